// Integer softmax over rows of N codes, exactly t2c.arith.softmax_int
// (docs/arithmetic.md, "Transformer ops"; docs/vit_rtl.md for timing):
//
//   d     = max(x) - x                          (0 .. 2^IN_BITS - 1)
//   e     = EXP[d]                              unsigned Q0.15 table (EXP_FILE), EXP[0] = 2^15
//   total = sum(e)
//   recip = floor((2 * 2^40 + total) / (2 * total))   = div_round(2^40, total)
//   y     = clip((e * qmax * recip + 2^39) >> 40, 0, qmax)
//
// Row-serial, one element per cycle per pass, one row at a time:
//   LOAD  n cycles   accept x (ready_o high), store it, running max
//   EXP   n+2        read x back, d = max - x, e = EXP[d] (rtl/lut.v), store e, sum
//   DIV   1+26       restoring divider, one quotient bit per cycle (recip < 2^26)
//   MUL   1          qr = qmax * recip
//   OUT   n          read e back, y = (e * qr + 2^39) >> 40, clip; valid_o 2 cycles later
// so a row takes 3n + 30 cycles from its first accepted element to its last output
// (the next row's LOAD starts the cycle after the last e was read, while the last
// two outputs are still in the pipeline).
//
// Codes are compared in offset binary (sign bit flipped when IN_SIGNED), where
// max - x is an unsigned IN_BITS-bit difference.  n_i and qmax_i are sampled with a
// row's first element; n must be 1 .. MAX_N.  No back-pressure on the output: y_o is
// valid for one cycle with valid_o, last_o marks a row's last element.
//
// EXP_FILE: absolute path, 2^IN_BITS 16-bit hex words (t2c.arith.exp_lut with
// out_frac_bits = 15), entry d first at index d.  The buffers hold 2^ceil(log2 MAX_N)
// entries of IN_BITS (x) and 16 (e) bits (two rtl/row_buffer.v).
module softmax #(
  parameter integer IN_BITS   = 8,
  parameter integer IN_SIGNED = 1,
  parameter integer OUT_BITS  = 8,
  parameter integer MAX_N     = 256,
  parameter         EXP_FILE  = ""
) (
  input  wire                         clk_i,
  input  wire                         rst_ni,
  input  wire [$clog2(MAX_N+1)-1:0]   n_i,
  input  wire [OUT_BITS-1:0]          qmax_i,
  input  wire                         valid_i,
  output wire                         ready_o,
  input  wire [IN_BITS-1:0]           x_i,
  output wire                         valid_o,
  output wire                         last_o,
  output wire [OUT_BITS-1:0]          y_o
);

  localparam integer NW    = $clog2(MAX_N + 1);             // holds 0 .. MAX_N
  localparam integer AW    = (MAX_N > 1) ? $clog2(MAX_N) : 1; // buffer address
  localparam integer EW    = 16;                 // exp entries: Q0.15, EXP[0] = 2^15
  localparam integer FRAC  = 15;                 // t2c.arith.SOFTMAX_EXP_FRAC
  localparam integer RB    = 40;                 // t2c.arith.SOFTMAX_RECIP_BITS
  localparam integer SUMW  = EW + $clog2(MAX_N); // total <= MAX_N * 2^15
  localparam integer QB    = RB - FRAC + 1;      // recip <= 2^25: 26 bits
  localparam integer DW    = RB + 2;             // dividend 2^41 + total
  localparam integer PW    = EW + 1 + OUT_BITS + QB; // e * qmax * recip + 2^39
  localparam integer YW    = PW - RB;            // (...) >> 40
  localparam integer FLIP_I = (IN_SIGNED != 0) ? (1 << (IN_BITS - 1)) : 0;
  localparam integer QBL    = QB - 1;

  localparam [2:0] S_LOAD = 3'd0, S_EXP = 3'd1, S_DINIT = 3'd2, S_DIV = 3'd3,
                   S_MUL = 3'd4, S_OUT = 3'd5;

  wire [IN_BITS-1:0] flip    = FLIP_I[IN_BITS-1:0];
  wire [4:0]         qb_last = QBL[4:0];

  reg [2:0]           st_q;
  reg [NW-1:0]        n_q;        // row length
  reg [OUT_BITS-1:0]  qmax_q;     // qmax of the row being loaded / computed
  reg [OUT_BITS-1:0]  qclip_q;    // qmax of the row being output
  reg [NW-1:0]        rc_q;       // read / load counter
  reg [NW-1:0]        wc_q;       // EXP write-back counter
  reg [IN_BITS-1:0]   umax_q;     // running max, offset binary
  reg [SUMW-1:0]      total_q;
  reg [SUMW:0]        rem_q;      // divider remainder (< 2 total)
  reg [QB-1:0]        dsh_q;      // dividend bits still to shift in
  reg [QB-1:0]        quo_q;      // quotient: recip
  reg [4:0]           dcnt_q;     // divider steps done
  reg [OUT_BITS+QB-1:0] qr_q;     // qmax * recip

  // ---------------------------------------------------------------- combinational
  reg                 first_in, last_in, rd_go, rd_last;
  reg [IN_BITS-1:0]   u_in;
  reg [NW-1:0]        n_cur;
  always @(*) begin
    u_in     = x_i ^ flip;
    first_in = (rc_q == {NW{1'b0}});
    n_cur    = first_in ? n_i : n_q;
    last_in  = (rc_q + 1'b1 == n_cur);
    rd_go    = ((st_q == S_EXP) || (st_q == S_OUT)) && (rc_q != n_q);
    rd_last  = (rc_q + 1'b1 == n_q);
  end

  assign ready_o = (st_q == S_LOAD);
  wire accept = valid_i && (st_q == S_LOAD);

  // ---------------------------------------------------------------- row buffers
  // x: written in LOAD, read in EXP; e: written in EXP, read in OUT (rtl/row_buffer.v)
  wire [IN_BITS-1:0] xr_q;
  wire [EW-1:0]      er_q;
  wire               e_valid;
  wire [EW-1:0]      e_val;
  row_buffer #(.WIDTH(IN_BITS), .AW(AW)) u_xbuf (
    .clk_i(clk_i), .rst_ni(rst_ni), .we_i(accept), .wa_i(rc_q[AW-1:0]), .wd_i(u_in),
    .re_i(rd_go), .ra_i(rc_q[AW-1:0]), .rd_o(xr_q)
  );
  row_buffer #(.WIDTH(EW), .AW(AW)) u_ebuf (
    .clk_i(clk_i), .rst_ni(rst_ni), .we_i(e_valid), .wa_i(wc_q[AW-1:0]), .wd_i(e_val),
    .re_i(rd_go), .ra_i(rc_q[AW-1:0]), .rd_o(er_q)
  );

  // ---------------------------------------------------------------- EXP: table lookup
  reg               xv_q;   // xr_q holds an element of the EXP pass
  reg [IN_BITS-1:0] d;
  always @(*) begin
    d = umax_q - xr_q;
  end
  lut #(
    .IN_BITS(IN_BITS), .FRAC_BITS(0), .OUT_BITS(EW), .OUT_SIGNED(0), .INIT_FILE(EXP_FILE)
  ) u_exp (
    .clk_i(clk_i), .rst_ni(rst_ni), .valid_i(xv_q), .x_i(d), .valid_o(e_valid), .y_o(e_val)
  );

  // ---------------------------------------------------------------- divider step
  // D = 2^41 + total, V = 2 total; initial remainder D >> QB = 2^15 + (total >> QB)
  // is below V, and the quotient is below 2^QB, so QB restoring steps give floor(D/V).
  reg [DW-1:0]   dvd;
  reg [SUMW+1:0] trial, vdiv;
  /* verilator lint_off UNUSEDSIGNAL */
  reg [SUMW+1:0] diff;  // below V when used: the top bit is always 0
  /* verilator lint_on UNUSEDSIGNAL */
  reg            ge;
  always @(*) begin
    dvd   = {1'b1, {(DW-1){1'b0}}} + {{(DW-SUMW){1'b0}}, total_q};
    trial = {rem_q, dsh_q[QB-1]};
    vdiv  = {1'b0, total_q, 1'b0};
    ge    = (trial >= vdiv);
    diff  = trial - vdiv;
  end

  // ---------------------------------------------------------------- control
  wire last_e = e_valid && (wc_q + 1'b1 == n_q);
  always @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      st_q    <= S_LOAD;
      n_q     <= {NW{1'b0}};
      qmax_q  <= {OUT_BITS{1'b0}};
      qclip_q <= {OUT_BITS{1'b0}};
      rc_q    <= {NW{1'b0}};
      wc_q    <= {NW{1'b0}};
      umax_q  <= {IN_BITS{1'b0}};
      total_q <= {SUMW{1'b0}};
      rem_q   <= {(SUMW+1){1'b0}};
      dsh_q   <= {QB{1'b0}};
      quo_q   <= {QB{1'b0}};
      dcnt_q  <= 5'd0;
      qr_q    <= {(OUT_BITS+QB){1'b0}};
      xv_q    <= 1'b0;
    end else begin
      xv_q <= rd_go && (st_q == S_EXP);
      case (st_q)
        S_LOAD: begin
          if (accept) begin
            if (first_in) begin
              n_q    <= n_i;
              qmax_q <= qmax_i;
              umax_q <= u_in;
            end else if (u_in > umax_q) begin
              umax_q <= u_in;
            end
            if (last_in) begin
              rc_q    <= {NW{1'b0}};
              wc_q    <= {NW{1'b0}};
              total_q <= {SUMW{1'b0}};
              st_q    <= S_EXP;
            end else begin
              rc_q <= rc_q + 1'b1;
            end
          end
        end
        S_EXP: begin
          if (rd_go) begin
            rc_q <= rc_q + 1'b1;
          end
          if (e_valid) begin
            total_q <= total_q + {{(SUMW-EW){1'b0}}, e_val};
            wc_q    <= wc_q + 1'b1;
            if (last_e) begin
              st_q <= S_DINIT;
            end
          end
        end
        S_DINIT: begin
          rem_q  <= {{(SUMW+1-(DW-QB)){1'b0}}, dvd[DW-1:QB]};
          dsh_q  <= dvd[QB-1:0];
          dcnt_q <= 5'd0;
          st_q   <= S_DIV;
        end
        S_DIV: begin
          rem_q  <= ge ? diff[SUMW:0] : trial[SUMW:0];
          quo_q  <= {quo_q[QB-2:0], ge};
          dsh_q  <= {dsh_q[QB-2:0], 1'b0};
          dcnt_q <= dcnt_q + 5'd1;
          if (dcnt_q == qb_last) begin
            st_q <= S_MUL;
          end
        end
        S_MUL: begin
          qr_q    <= {{QB{1'b0}}, qmax_q} * {{OUT_BITS{1'b0}}, quo_q};
          qclip_q <= qmax_q;
          rc_q    <= {NW{1'b0}};
          st_q    <= S_OUT;
        end
        default: begin  // S_OUT
          if (rd_go) begin
            if (rd_last) begin
              rc_q <= {NW{1'b0}};
              st_q <= S_LOAD;
            end else begin
              rc_q <= rc_q + 1'b1;
            end
          end
        end
      endcase
    end
  end

  // ---------------------------------------------------------------- OUT: scale, round, clip
  reg ov_q, ol_q;   // er_q holds an element of the OUT pass / the row's last
  always @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      ov_q <= 1'b0;
      ol_q <= 1'b0;
    end else begin
      ov_q <= rd_go && (st_q == S_OUT);
      ol_q <= rd_go && (st_q == S_OUT) && rd_last;
    end
  end

  /* verilator lint_off UNUSEDSIGNAL */
  reg [PW-1:0] prod;    // low RB bits dropped by the shift
  /* verilator lint_on UNUSEDSIGNAL */
  reg [YW-1:0] yfull;
  reg [OUT_BITS-1:0] ysat;
  always @(*) begin
    prod  = {{(PW-EW){1'b0}}, er_q} * {{(PW-OUT_BITS-QB){1'b0}}, qr_q}
          + {{(PW-RB){1'b0}}, 1'b1, {(RB-1){1'b0}}};
    yfull = prod[PW-1:RB];
    ysat  = (yfull > {{(YW-OUT_BITS){1'b0}}, qclip_q}) ? qclip_q : yfull[OUT_BITS-1:0];
  end

  reg                v_q, l_q;
  reg [OUT_BITS-1:0] y_q;
  always @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      v_q <= 1'b0;
      l_q <= 1'b0;
      y_q <= {OUT_BITS{1'b0}};
    end else begin
      v_q <= ov_q;
      l_q <= ol_q;
      if (ov_q) begin
        y_q <= ysat;
      end
    end
  end
  assign valid_o = v_q;
  assign last_o  = l_q;
  assign y_o     = y_q;

endmodule

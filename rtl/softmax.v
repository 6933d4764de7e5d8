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
//   DIV   1+26       start rtl/divider.v (dividend 2^41 + total, divisor 2 total), 26
//                    restoring steps, one quotient bit per cycle (recip < 2^26)
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
// entries of IN_BITS (x) and 16 (e) bits (two rtl/row_buffer.v); rtl/row_counter.v
// holds the row length and the buffer addresses.
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

  localparam integer NW     = $clog2(MAX_N + 1);               // holds 0 .. MAX_N
  localparam integer AW     = (MAX_N > 1) ? $clog2(MAX_N) : 1; // buffer address
  localparam integer EW     = 16;                  // exp entries: Q0.15, EXP[0] = 2^15
  localparam integer FRAC   = 15;                  // t2c.arith.SOFTMAX_EXP_FRAC
  localparam integer RB     = 40;                  // t2c.arith.SOFTMAX_RECIP_BITS
  localparam integer SUMW   = EW + $clog2(MAX_N);  // total <= MAX_N * 2^15
  localparam integer QB     = RB - FRAC + 1;       // recip <= 2^25: 26 bits, 26 steps
  localparam integer VW     = SUMW + 1;            // divisor 2 total
  localparam integer DW     = RB + 2;              // dividend 2^41 + total (< 2^(VW+QB))
  localparam integer PW     = EW + 1 + OUT_BITS + QB; // e * qmax * recip + 2^39
  localparam integer YW     = PW - RB;             // (...) >> 40
  localparam integer FLIP_I = (IN_SIGNED != 0) ? (1 << (IN_BITS - 1)) : 0;

  localparam [2:0] S_LOAD = 3'd0, S_EXP = 3'd1, S_DIV_START = 3'd2, S_DIV = 3'd3,
                   S_MUL = 3'd4, S_OUT = 3'd5;

  wire [IN_BITS-1:0] flip = FLIP_I[IN_BITS-1:0];

  // ---------------------------------------------------------------- state
  reg [2:0]             state_q, state_d;
  reg [OUT_BITS-1:0]    qmax_q, qmax_d;     // qmax of the row being loaded / computed
  reg [OUT_BITS-1:0]    qclip_q, qclip_d;   // qmax of the row being output
  reg [IN_BITS-1:0]     umax_q, umax_d;     // running max, offset binary
  reg [SUMW-1:0]        total_q, total_d;   // sum of e
  reg [OUT_BITS+QB-1:0] qr_q, qr_d;         // qmax * recip
  reg                   xv_q, xv_d;         // xr holds an element of the EXP pass
  reg                   ov_q, ov_d;         // er holds an element of the OUT pass
  reg                   ol_q, ol_d;         // ... the row's last
  reg                   valid_q, valid_d;
  reg                   last_q, last_d;
  reg [OUT_BITS-1:0]    y_q, y_d;

  // ---------------------------------------------------------------- row counters
  // rtl/row_counter.v: LOAD takes the row, EXP and OUT read it back (the index is
  // cleared before OUT and after it); the EXP results (e) count the e buffer address.
  /* verilator lint_off UNUSEDSIGNAL */
  wire [NW-1:0] row_idx, row_res_idx;   // buffer addresses: the low AW bits
  wire [NW-1:0] row_n;                  // the row length: used inside row_counter only
  /* verilator lint_on UNUSEDSIGNAL */
  wire          accept, row_first, row_loaded, row_rd, row_rd_last, row_res_last;
  wire          e_valid;
  wire [EW-1:0] e_val;
  wire          loading   = (state_q == S_LOAD);
  wire          reading   = (state_q == S_EXP) || (state_q == S_OUT);
  wire          row_clear = (state_q == S_MUL) || ((state_q == S_OUT) && row_rd_last);
  assign ready_o = loading;
  row_counter #(.MAX_N(MAX_N)) u_row (
    .clk_i(clk_i), .rst_ni(rst_ni), .load_i(loading), .valid_i(valid_i),
    .n_i(n_i), .accept_o(accept), .first_o(row_first), .last_o(row_loaded), .n_o(row_n),
    .idx_o(row_idx), .rd_i(reading), .clear_i(row_clear), .rd_o(row_rd),
    .rd_last_o(row_rd_last), .res_i(e_valid), .res_last_o(row_res_last),
    .res_idx_o(row_res_idx)
  );

  reg [IN_BITS-1:0] u_in;   // x in offset binary
  always @(*) begin
    u_in = x_i ^ flip;
  end

  // ---------------------------------------------------------------- row buffers
  // x: written in LOAD, read in EXP; e: written in EXP, read in OUT (rtl/row_buffer.v)
  wire [IN_BITS-1:0] xr;
  wire [EW-1:0]      er;
  row_buffer #(.WIDTH(IN_BITS), .AW(AW)) u_xbuf (
    .clk_i(clk_i), .rst_ni(rst_ni), .we_i(accept), .wa_i(row_idx[AW-1:0]), .wd_i(u_in),
    .re_i(row_rd), .ra_i(row_idx[AW-1:0]), .rd_o(xr)
  );
  row_buffer #(.WIDTH(EW), .AW(AW)) u_ebuf (
    .clk_i(clk_i), .rst_ni(rst_ni), .we_i(e_valid), .wa_i(row_res_idx[AW-1:0]),
    .wd_i(e_val), .re_i(row_rd), .ra_i(row_idx[AW-1:0]), .rd_o(er)
  );

  // ---------------------------------------------------------------- EXP: table lookup
  reg [IN_BITS-1:0] d;
  always @(*) begin
    d = umax_q - xr;
  end
  lut #(
    .IN_BITS(IN_BITS), .FRAC_BITS(0), .OUT_BITS(EW), .OUT_SIGNED(0), .INIT_FILE(EXP_FILE)
  ) u_exp (
    .clk_i(clk_i), .rst_ni(rst_ni), .valid_i(xv_q), .x_i(d), .valid_o(e_valid), .y_o(e_val)
  );

  // ---------------------------------------------------------------- DIV: reciprocal
  // recip = floor(D / V), D = 2^41 + total, V = 2 total (rtl/divider.v, QB steps): the
  // initial remainder D >> QB = 2^15 + (total >> QB) is below V (total >= 2^15) and the
  // quotient is below 2^QB.
  reg [VW+QB-1:0] dividend;
  reg [VW-1:0]    divisor;
  always @(*) begin
    dividend = {{(VW+QB-DW){1'b0}}, 1'b1, {(DW-1){1'b0}}}
             + {{(VW+QB-SUMW){1'b0}}, total_q};
    divisor  = {total_q, 1'b0};
  end
  wire          div_done;
  wire [QB-1:0] recip;
  /* verilator lint_off UNUSEDSIGNAL */
  wire          div_busy;   // the FSM waits for div_done
  wire [VW-1:0] div_rem;
  /* verilator lint_on UNUSEDSIGNAL */
  divider #(.DIVISOR_BITS(VW), .QUOTIENT_BITS(QB)) u_div (
    .clk_i(clk_i), .rst_ni(rst_ni), .start_i(state_q == S_DIV_START),
    .dividend_i(dividend), .divisor_i(divisor), .busy_o(div_busy), .done_o(div_done),
    .quotient_o(recip), .remainder_o(div_rem)
  );

  // ---------------------------------------------------------------- OUT: scale, round, clip
  /* verilator lint_off UNUSEDSIGNAL */
  reg [PW-1:0] prod;    // low RB bits dropped by the shift
  /* verilator lint_on UNUSEDSIGNAL */
  reg [YW-1:0] yfull;
  reg [OUT_BITS-1:0] ysat;
  always @(*) begin
    prod  = {{(PW-EW){1'b0}}, er} * {{(PW-OUT_BITS-QB){1'b0}}, qr_q}
          + {{(PW-RB){1'b0}}, 1'b1, {(RB-1){1'b0}}};
    yfull = prod[PW-1:RB];
    ysat  = (yfull > {{(YW-OUT_BITS){1'b0}}, qclip_q}) ? qclip_q : yfull[OUT_BITS-1:0];
  end

  // ---------------------------------------------------------------- next state
  always @(*) begin
    state_d = state_q;
    qmax_d  = qmax_q;
    qclip_d = qclip_q;
    umax_d  = umax_q;
    total_d = total_q;
    qr_d    = qr_q;
    xv_d    = row_rd && (state_q == S_EXP);
    ov_d    = row_rd && (state_q == S_OUT);
    ol_d    = row_rd_last && (state_q == S_OUT);
    valid_d = ov_q;
    last_d  = ol_q;
    y_d     = ov_q ? ysat : y_q;
    case (state_q)
      S_LOAD: begin            // take x, running max
        if (row_first) begin
          qmax_d = qmax_i;
          umax_d = u_in;
        end else if (accept && (u_in > umax_q)) begin
          umax_d = u_in;
        end
        if (row_loaded) begin
          total_d = {SUMW{1'b0}};
          state_d = S_EXP;
        end
      end
      S_EXP: begin             // e = EXP[max - x] into the e buffer, total += e
        if (e_valid) begin
          total_d = total_q + {{(SUMW-EW){1'b0}}, e_val};
        end
        if (row_res_last) begin
          state_d = S_DIV_START;
        end
      end
      S_DIV_START: begin       // the divider takes D and V
        state_d = S_DIV;
      end
      S_DIV: begin             // QB steps
        if (div_done) begin
          state_d = S_MUL;
        end
      end
      S_MUL: begin
        qr_d    = {{QB{1'b0}}, qmax_q} * {{OUT_BITS{1'b0}}, recip};
        qclip_d = qmax_q;
        state_d = S_OUT;
      end
      default: begin           // S_OUT: read e back, y two cycles later
        if (row_rd_last) begin
          state_d = S_LOAD;
        end
      end
    endcase
  end

  always @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      state_q <= S_LOAD;
      qmax_q  <= {OUT_BITS{1'b0}};
      qclip_q <= {OUT_BITS{1'b0}};
      umax_q  <= {IN_BITS{1'b0}};
      total_q <= {SUMW{1'b0}};
      qr_q    <= {(OUT_BITS+QB){1'b0}};
      xv_q    <= 1'b0;
      ov_q    <= 1'b0;
      ol_q    <= 1'b0;
      valid_q <= 1'b0;
      last_q  <= 1'b0;
      y_q     <= {OUT_BITS{1'b0}};
    end else begin
      state_q <= state_d;
      qmax_q  <= qmax_d;
      qclip_q <= qclip_d;
      umax_q  <= umax_d;
      total_q <= total_d;
      qr_q    <= qr_d;
      xv_q    <= xv_d;
      ov_q    <= ov_d;
      ol_q    <= ol_d;
      valid_q <= valid_d;
      last_q  <= last_d;
      y_q     <= y_d;
    end
  end

  assign valid_o = valid_q;
  assign last_o  = last_q;
  assign y_o     = y_q;

endmodule

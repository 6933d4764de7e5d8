// Controller of the layer engine: walks the output tiles of one conv/linear layer and
// issues one K-step per cycle to the MAC array, generating the im2col addresses of
// the activation memory in hardware.
//
// Loop nest (see docs/engine.md):
//   for each row tile (ROWS consecutive output pixels p0 .. p0+ROWS-1)
//     for each column tile t (COLS output channels; its row of the tiles memory)
//       for cin in 0 .. n_cin-1, kh in 0 .. KH-1, kw in 0 .. KW-1     (one K-step each)
//         row r reads input channel cin0+cin at (ih0[r] + kh*dil_h, iw0[r] + kw*dil_w),
//         or the padding (x - zx = 0) outside the image or past pix_end;
//         the weight memory is read at the next word (column tiles follow each other).
//
// Pipeline: the K-step state (counters) is stage S0; its memory addresses are formed
// combinationally from it and sampled at the end of S0; the words arrive in S1 together
// with step_*_o, which go straight to the MAC array.
//
// Stalls (bubbles, step_valid_o low) only happen at the last K-step of a tile:
//   - the previous tile's result must be drained (ROWS rows, one per cycle) before
//     this tile's result overwrites the MAC array's result bank: last K-steps are at
//     least GAP = max(ROWS + 1, 3) cycles apart (no stall when K >= GAP);
//   - the next column tile's row of the tiles memory must have been read (1 cycle);
//   - at a row-tile change, the pixel walker must have produced the next ROWS pixels
//     (ROWS cycles, overlapped with the current row tile).
//
// Handshake: start_i (one cycle, while not busy) begins a run; busy_o is high until
// done_o rises; done_o stays high until the next start_i.  cycles_o counts the cycles
// from the start_i edge to the done_o edge, steps_o the K-steps issued.  A start with
// cfg_ok_i low (bad descriptor) sets err_o and done_o at once and computes nothing.
module engine_ctrl #(
  parameter integer ROWS  = 8,
  parameter integer COLS  = 8,
  parameter integer PW    = 24,  // signed width of positions / addresses
  parameter integer AAW   = 8,   // activation memory address width
  parameter integer WAW   = 8,   // weight memory address width
  parameter integer TAW   = 2,   // tiles / per-channel memory address width
  // Derived, do not override.
  parameter integer LW_P  = (COLS > 1) ? $clog2(COLS) : 1,
  parameter integer NCW_P = $clog2(COLS + 1)
) (
  input  wire                 clk_i,
  input  wire                 rst_ni,
  input  wire                 start_i,
  input  wire                 cfg_ok_i,
  // descriptor (docs/engine.md), PW-bit two's complement each
  input  wire [PW-1:0]        in_h_i,
  input  wire [PW-1:0]        in_w_i,
  input  wire [PW-1:0]        in_hw_i,
  input  wire [PW-1:0]        out_w_i,
  input  wire [PW-1:0]        npix_i,
  input  wire [PW-1:0]        pix_end_i,
  input  wire [PW-1:0]        kh_i,
  input  wire [PW-1:0]        kw_i,
  input  wire [PW-1:0]        stride_h_i,
  input  wire [PW-1:0]        stride_w_i,
  input  wire [PW-1:0]        pad_h_i,
  input  wire [PW-1:0]        pad_w_i,
  input  wire [PW-1:0]        dil_h_i,
  input  wire [PW-1:0]        dil_w_i,
  input  wire [PW-1:0]        dil_h_in_w_i,
  input  wire [PW-1:0]        stride_h_in_w_i,
  input  wire [PW-1:0]        base0_i,
  input  wire [PW-1:0]        n_ctiles_i,
  // tiles memory: row tile_raddr_o on tile_rdata_i one cycle later
  output wire [TAW-1:0]       tile_raddr_o,
  input  wire [4*32-1:0]      tile_rdata_i,
  // S0: memory read addresses
  output reg  [ROWS*AAW-1:0]  act_raddr_o,
  output wire [WAW-1:0]       w_raddr_o,
  output wire [TAW-1:0]       bias_raddr_o,
  // S1: the K-step whose words are on the memory outputs
  output wire                 step_valid_o,
  output wire                 step_first_o,
  output wire                 step_last_o,
  output wire [LW_P-1:0]      step_lane_o,   // lane of the activation words
  output wire [ROWS-1:0]      step_pad_o,    // row r: use the zero point (padding)
  // S0: a tile's last K-step issued, and where its results go
  output wire                 tile_issued_o,
  output wire [TAW-1:0]       tile_t_o,
  output wire [PW-1:0]        tile_out_base_o,
  output wire [PW-1:0]        tile_p0_o,
  output wire [NCW_P-1:0]     tile_ncols_o,
  input  wire                 tile_written_i, // the post-processor stored a tile's outputs
  // status
  output wire                 busy_o,
  output wire                 done_o,
  output wire                 err_o,
  output wire [31:0]          cycles_o,
  output wire [31:0]          steps_o
);

  localparam integer GAP = (ROWS + 1 > 3) ? ROWS + 1 : 3;
  localparam [1:0] S_IDLE = 2'd0, S_INIT = 2'd1, S_RUN = 2'd2, S_FLUSH = 2'd3;
  localparam integer RSELW = (ROWS > 1) ? $clog2(ROWS) : 1;
  localparam [PW-1:0] ONE = {{(PW-1){1'b0}}, 1'b1};
  /* verilator lint_off WIDTHTRUNC */
  localparam [PW-1:0]    ROWS_PW   = ROWS;
  localparam [PW-1:0]    GAP_PW    = GAP;
  localparam [LW_P-1:0]  LANE_LAST = COLS - 1;
  localparam [RSELW-1:0] ROW_LAST  = ROWS - 1;
  /* verilator lint_on WIDTHTRUNC */

  reg [1:0] state_q;

  // ---------------------------------------------------------------- pixel walker
  // Fills the "next" pixel bank (ROWS pixels) while the current row tile runs.
  reg               nxt_full_q;
  reg [RSELW-1:0]   fill_r_q;  // row of the next bank being filled
  wire              fill = (state_q != S_IDLE) && !nxt_full_q;
  wire [PW-1:0]     wk_p, wk_ih0, wk_iw0, wk_base;
  wire              wk_valid;
  engine_pixwalk #(.PW(PW)) u_walk (
    .clk_i(clk_i), .rst_ni(rst_ni), .restart_i(start_i && state_q == S_IDLE), .step_i(fill),
    .out_w_i(out_w_i), .pix_end_i(pix_end_i), .stride_h_i(stride_h_i), .stride_w_i(stride_w_i),
    .pad_h_i(pad_h_i), .pad_w_i(pad_w_i), .stride_h_in_w_i(stride_h_in_w_i), .base0_i(base0_i),
    .p_o(wk_p), .ih0_o(wk_ih0), .iw0_o(wk_iw0), .base_o(wk_base), .valid_o(wk_valid)
  );

  reg [ROWS*PW-1:0] nxt_ih0_q, nxt_iw0_q, nxt_base_q;
  reg [ROWS-1:0]    nxt_pv_q;
  reg [PW-1:0]      nxt_p0_q;
  reg [ROWS*PW-1:0] cur_ih0_q, cur_iw0_q, cur_base_q;
  reg [ROWS-1:0]    cur_pv_q;
  reg [PW-1:0]      p0_q;
  // p0_q + ROWS >= pix_end: this row tile is the last; registered with p0_q (the
  // descriptor is stable during a run), so the add and compare are off the issue path
  reg               last_rt_q;

  // ---------------------------------------------------------------- K-step state (S0)
  reg [PW-1:0]   kw_c_q, kh_c_q, cin_c_q;
  reg [PW-1:0]   kwd_q, khd_q, khoff_q, cword_q;
  reg [LW_P-1:0] lane_q;
  reg            at_first_q;
  reg [PW-1:0]   w_addr_q;
  reg [PW-1:0]   t_q, nt_q, out_base_q;
  reg            nt_ok_q;
  reg [PW-1:0]   ncin_m1_q;
  reg [NCW_P-1:0] ncols_q;
  reg [PW-1:0]   gap_q;
  reg            gap_ok_q;  // gap_q >= GAP, registered beside gap_q (off the issue path)
  reg [PW-1:0]   outstanding_q;

  // next column tile's row of the tiles memory
  /* verilator lint_off UNUSEDSIGNAL */
  wire [31:0] nt_cword = tile_rdata_i[31:0];
  wire [31:0] nt_lane  = tile_rdata_i[63:32];
  wire [31:0] nt_ncin  = tile_rdata_i[95:64];
  wire [31:0] nt_ncols = tile_rdata_i[127:96];
  /* verilator lint_on UNUSEDSIGNAL */

  wire [PW-1:0] kw_m1  = kw_i - ONE;
  wire [PW-1:0] kh_m1  = kh_i - ONE;
  wire [PW-1:0] nct_m1 = n_ctiles_i - ONE;

  reg is_last, rt_end, last_rt, final_step, issue, sw, rt_sw;
  always @(*) begin
    is_last    = (kw_c_q == kw_m1) && (kh_c_q == kh_m1) && (cin_c_q == ncin_m1_q);
    rt_end     = (t_q == nct_m1);
    last_rt    = last_rt_q;
    final_step = rt_end && last_rt;
    issue      = (state_q == S_RUN) &&
                 (!is_last || (gap_ok_q &&
                               (final_step || (nt_ok_q && (!rt_end || nxt_full_q)))));
    // load the next tile: after the last K-step of one, or the first one of a run
    sw    = (issue && is_last && !final_step) ||
            (state_q == S_INIT && nxt_full_q && nt_ok_q);
    rt_sw = (state_q == S_INIT) || rt_end;
  end

  // ---------------------------------------------------------------- im2col addresses
  // Row r: input (ih, iw) = (ih0[r] + kh*dil_h, iw0[r] + kw*dil_w) of input channel
  // tile cword (lane `lane`): word cword + base[r] + kh*dil_h*in_w + kw*dil_w.
  reg [PW-1:0]   koff;
  reg [PW-1:0]   ih, iw;
  /* verilator lint_off UNUSEDSIGNAL */
  reg [PW-1:0]   addr;  // the low AAW bits address the memory
  /* verilator lint_on UNUSEDSIGNAL */
  reg [ROWS-1:0] inb;
  integer r;
  always @(*) begin
    koff = cword_q + khoff_q + kwd_q;
    for (r = 0; r < ROWS; r = r + 1) begin
      ih     = cur_ih0_q[r*PW +: PW] + khd_q;
      iw     = cur_iw0_q[r*PW +: PW] + kwd_q;
      addr   = cur_base_q[r*PW +: PW] + koff;
      inb[r] = cur_pv_q[r] && !ih[PW-1] && ($signed(ih) < $signed(in_h_i))
                           && !iw[PW-1] && ($signed(iw) < $signed(in_w_i));
      act_raddr_o[r*AAW +: AAW] = inb[r] ? addr[AAW-1:0] : {AAW{1'b0}};
    end
  end
  assign w_raddr_o    = w_addr_q[WAW-1:0];
  assign bias_raddr_o = t_q[TAW-1:0];
  assign tile_raddr_o = nt_q[TAW-1:0];

  // ---------------------------------------------------------------- S1 registers
  reg            s1_valid_q, s1_first_q, s1_last_q;
  reg [LW_P-1:0] s1_lane_q;
  reg [ROWS-1:0] s1_pad_q;
  always @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      s1_valid_q <= 1'b0;
      s1_first_q <= 1'b0;
      s1_last_q  <= 1'b0;
      s1_lane_q  <= {LW_P{1'b0}};
      s1_pad_q   <= {ROWS{1'b0}};
    end else begin
      s1_valid_q <= issue;
      s1_first_q <= at_first_q;
      s1_last_q  <= is_last;
      s1_lane_q  <= lane_q;
      s1_pad_q   <= ~inb;
    end
  end
  assign step_valid_o = s1_valid_q;
  assign step_first_o = s1_first_q;
  assign step_last_o  = s1_last_q;
  assign step_lane_o  = s1_lane_q;
  assign step_pad_o   = s1_pad_q;

  assign tile_issued_o   = issue && is_last;
  assign tile_t_o        = t_q[TAW-1:0];
  assign tile_out_base_o = out_base_q;
  assign tile_p0_o       = p0_q;
  assign tile_ncols_o    = ncols_q;

  // ---------------------------------------------------------------- pixel banks
  integer fr;
  always @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      nxt_full_q <= 1'b0;
      fill_r_q   <= {RSELW{1'b0}};
      nxt_ih0_q  <= {(ROWS*PW){1'b0}};
      nxt_iw0_q  <= {(ROWS*PW){1'b0}};
      nxt_base_q <= {(ROWS*PW){1'b0}};
      nxt_pv_q   <= {ROWS{1'b0}};
      nxt_p0_q   <= {PW{1'b0}};
      cur_ih0_q  <= {(ROWS*PW){1'b0}};
      cur_iw0_q  <= {(ROWS*PW){1'b0}};
      cur_base_q <= {(ROWS*PW){1'b0}};
      cur_pv_q   <= {ROWS{1'b0}};
      p0_q       <= {PW{1'b0}};
      last_rt_q  <= 1'b0;
    end else if (start_i && state_q == S_IDLE) begin
      nxt_full_q <= 1'b0;
      fill_r_q   <= {RSELW{1'b0}};
    end else begin
      if (fill) begin
        // a decoder on fill_r_q (not a part select at fill_r_q * PW, which synthesis
        // builds with a multiplier in front of the write enables)
        for (fr = 0; fr < ROWS; fr = fr + 1) begin
          if (fill_r_q == fr[RSELW-1:0]) begin
            nxt_ih0_q[fr*PW +: PW]  <= wk_ih0;
            nxt_iw0_q[fr*PW +: PW]  <= wk_iw0;
            nxt_base_q[fr*PW +: PW] <= wk_base;
            nxt_pv_q[fr]            <= wk_valid;
          end
        end
        if (fill_r_q == {RSELW{1'b0}}) begin
          nxt_p0_q <= wk_p;
        end
        if (fill_r_q == ROW_LAST) begin
          fill_r_q   <= {RSELW{1'b0}};
          nxt_full_q <= 1'b1;
        end else begin
          fill_r_q <= fill_r_q + 1'b1;
        end
      end
      if (sw && rt_sw) begin  // nxt_full_q is set, so fill is idle in this cycle
        cur_ih0_q  <= nxt_ih0_q;
        cur_iw0_q  <= nxt_iw0_q;
        cur_base_q <= nxt_base_q;
        cur_pv_q   <= nxt_pv_q;
        p0_q       <= nxt_p0_q;
        last_rt_q  <= ($signed(nxt_p0_q + ROWS_PW) >= $signed(pix_end_i));
        nxt_full_q <= 1'b0;
      end
    end
  end

  // ---------------------------------------------------------------- K-step counters
  always @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      kw_c_q     <= {PW{1'b0}};
      kh_c_q     <= {PW{1'b0}};
      cin_c_q    <= {PW{1'b0}};
      kwd_q      <= {PW{1'b0}};
      khd_q      <= {PW{1'b0}};
      khoff_q    <= {PW{1'b0}};
      cword_q    <= {PW{1'b0}};
      lane_q     <= {LW_P{1'b0}};
      at_first_q <= 1'b0;
      w_addr_q   <= {PW{1'b0}};
      t_q        <= {PW{1'b0}};
      nt_q       <= {PW{1'b0}};
      nt_ok_q    <= 1'b0;
      out_base_q <= {PW{1'b0}};
      ncin_m1_q  <= {PW{1'b0}};
      ncols_q    <= {NCW_P{1'b0}};
    end else if (start_i && state_q == S_IDLE) begin
      nt_q    <= {PW{1'b0}};
      nt_ok_q <= 1'b0;
    end else if (sw) begin
      kw_c_q     <= {PW{1'b0}};
      kh_c_q     <= {PW{1'b0}};
      cin_c_q    <= {PW{1'b0}};
      kwd_q      <= {PW{1'b0}};
      khd_q      <= {PW{1'b0}};
      khoff_q    <= {PW{1'b0}};
      cword_q    <= nt_cword[PW-1:0];
      lane_q     <= nt_lane[LW_P-1:0];
      ncin_m1_q  <= nt_ncin[PW-1:0] - ONE;
      ncols_q    <= nt_ncols[NCW_P-1:0];
      at_first_q <= 1'b1;
      t_q        <= nt_q;
      nt_q       <= (nt_q == nct_m1) ? {PW{1'b0}} : nt_q + ONE;
      nt_ok_q    <= 1'b0;
      out_base_q <= rt_sw ? {PW{1'b0}} : out_base_q + npix_i;
      w_addr_q   <= rt_sw ? {PW{1'b0}} : w_addr_q + ONE;
    end else begin
      nt_ok_q <= 1'b1;
      if (issue) begin
        at_first_q <= 1'b0;
        w_addr_q   <= w_addr_q + ONE;
        if (kw_c_q != kw_m1) begin
          kw_c_q <= kw_c_q + ONE;
          kwd_q  <= kwd_q + dil_w_i;
        end else begin
          kw_c_q <= {PW{1'b0}};
          kwd_q  <= {PW{1'b0}};
          if (kh_c_q != kh_m1) begin
            kh_c_q  <= kh_c_q + ONE;
            khd_q   <= khd_q + dil_h_i;
            khoff_q <= khoff_q + dil_h_in_w_i;
          end else begin
            kh_c_q  <= {PW{1'b0}};
            khd_q   <= {PW{1'b0}};
            khoff_q <= {PW{1'b0}};
            cin_c_q <= cin_c_q + ONE;
            if (lane_q == LANE_LAST) begin
              lane_q  <= {LW_P{1'b0}};
              cword_q <= cword_q + in_hw_i;
            end else begin
              lane_q <= lane_q + 1'b1;
            end
          end
        end
      end
    end
  end

  // ---------------------------------------------------------------- run state, status
  reg        done_q, err_q;
  reg [31:0] cyc_q, cycles_q, steps_q;
  always @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      state_q       <= S_IDLE;
      done_q        <= 1'b0;
      err_q         <= 1'b0;
      cyc_q         <= 32'd0;
      cycles_q      <= 32'd0;
      steps_q       <= 32'd0;
      gap_q         <= {PW{1'b0}};
      gap_ok_q      <= 1'b0;
      outstanding_q <= {PW{1'b0}};
    end else begin
      if (state_q != S_IDLE) begin
        cyc_q <= cyc_q + 32'd1;
      end
      if (issue) begin
        steps_q <= steps_q + 32'd1;
      end
      if (issue && is_last) begin
        gap_q    <= ONE;
        gap_ok_q <= 1'b0;  // GAP >= 3
      end else if (gap_q < GAP_PW) begin
        gap_q    <= gap_q + ONE;
        gap_ok_q <= (gap_q == GAP_PW - ONE);
      end
      outstanding_q <= outstanding_q + {{(PW-1){1'b0}}, issue && is_last}
                                     - {{(PW-1){1'b0}}, tile_written_i};
      case (state_q)
        S_IDLE: begin
          if (start_i) begin
            done_q  <= !cfg_ok_i;
            err_q   <= !cfg_ok_i;
            state_q <= cfg_ok_i ? S_INIT : S_IDLE;
            cyc_q   <= 32'd1;
            steps_q <= 32'd0;
            gap_q    <= GAP_PW;
            gap_ok_q <= 1'b1;
          end
        end
        S_INIT: begin
          if (sw) begin
            state_q <= S_RUN;
          end
        end
        S_RUN: begin
          if (issue && is_last && final_step) begin
            state_q <= S_FLUSH;
          end
        end
        default: begin  // S_FLUSH: wait until every tile is written
          if (outstanding_q == {PW{1'b0}}) begin
            state_q  <= S_IDLE;
            done_q   <= 1'b1;
            cycles_q <= cyc_q;
          end
        end
      endcase
    end
  end

  assign busy_o   = (state_q != S_IDLE);
  assign done_o   = done_q;
  assign err_o    = err_q;
  assign cycles_o = cycles_q;
  assign steps_o  = steps_q;

endmodule

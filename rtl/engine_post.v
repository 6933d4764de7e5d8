// Post-processor of the layer engine: drains each finished tile from the MAC array's
// result bank one row (one output pixel, COLS channels) per cycle, adds the residual
// term when the layer has one, requantizes (rtl/requant.v, LANES = COLS) and writes
// the output memory:
//
//   y[c] = clip(((acc[c]*m[c] + (r[c] - zr)*m_r[c] + 2^(s[c]-1)) >> s[c]) + zy, qmin, qmax)
//
// (t2c.arith.requantize_sum; without a residual the middle term is 0, which is
// t2c.arith.requantize).  Output word T*NPIX + p holds pixel p of column tile T;
// lanes c >= n_cols (past the last channel) are written as 0, pixels p >= pix_end
// are not written.
//
// Timing: tile_issued_i (with the tile's meta) comes with the tile's last K-step in
// the controller's S0; res_valid_i 5 cycles later (rtl/mac_array.v).  Row 0 is
// addressed in the res_valid_i cycle (D0), rows 1..ROWS-1 in the following cycles; each
// row's accumulators are read from the bank (rd_row_o) one cycle after its D0 (D1),
// with the residual word and the per-channel m, s, m_r read in D0; all of them are
// registered at the end of D1 (D2: the requantizer's input).  The controller keeps
// tiles GAP cycles apart, so the bank is stable until the last row is read.
// Outputs are written 1 + REQ_LAT = 5 cycles after D1; tile_written_o pulses with the
// last row's write.
module engine_post #(
  parameter integer ROWS      = 8,
  parameter integer COLS      = 8,
  parameter integer ABITS     = 8,
  parameter integer ACCW      = 32,
  parameter integer MULT_BITS = 32,
  parameter integer OBITS     = 8,
  parameter integer PW        = 24,
  parameter integer TAW       = 2,
  parameter integer RAW       = 1,
  parameter integer OAW       = 8,
  // Derived, do not override.
  parameter integer RSELW_P   = (ROWS > 1) ? $clog2(ROWS) : 1,
  parameter integer NCW_P     = $clog2(COLS + 1)
) (
  input  wire                      clk_i,
  input  wire                      rst_ni,
  // a tile's last K-step was issued (controller S0)
  input  wire                      tile_issued_i,
  input  wire [TAW-1:0]            tile_t_i,
  input  wire [PW-1:0]             tile_out_base_i,
  input  wire [PW-1:0]             tile_p0_i,
  input  wire [NCW_P-1:0]          tile_ncols_i,
  // MAC array result bank
  input  wire                      res_valid_i,
  output wire [RSELW_P-1:0]        rd_row_o,
  input  wire [COLS*ACCW-1:0]      rd_res_i,
  // per-channel parameter memories (m, s, residual m): row pm_raddr_o
  output wire [TAW-1:0]            pm_raddr_o,
  input  wire [COLS*MULT_BITS-1:0] m_rdata_i,
  input  wire [COLS*8-1:0]         s_rdata_i,
  input  wire [COLS*MULT_BITS-1:0] rm_rdata_i,
  // residual memory
  output wire [RAW-1:0]            res_raddr_o,
  input  wire [COLS*ABITS-1:0]     res_rdata_i,
  // descriptor
  input  wire [PW-1:0]             pix_end_i,
  input  wire [OBITS:0]            y_zp_i,
  input  wire [OBITS:0]            qmin_i,
  input  wire [OBITS:0]            qmax_i,
  input  wire [ABITS+1:0]          r_zp_i,
  input  wire                      res_en_i,
  input  wire                      r_signed_i,
  // output memory write port
  output wire                      out_we_o,
  output wire [OAW-1:0]            out_waddr_o,
  output wire [COLS*OBITS-1:0]     out_wdata_o,
  output wire                      tile_written_o
);

  localparam integer OUTW    = OBITS + 1;
  localparam integer SB      = 6;                  // requant SHIFT_BITS
  localparam integer RXW     = ABITS + 2;          // r - zr
  localparam integer ADDW    = RXW + MULT_BITS - 1; // (r - zr) * m_r (m_r's MSB is 0)
  localparam integer REQ_LAT = 4;                  // rtl/requant.v's LATENCY
  /* verilator lint_off WIDTHTRUNC */
  localparam [RSELW_P-1:0] ROW_LAST = ROWS - 1;
  /* verilator lint_on WIDTHTRUNC */

  // ---------------------------------------------------------------- tile meta
  reg [TAW-1:0]   pend_t_q, dr_t_q;
  reg [PW-1:0]    pend_base_q, dr_base_q, pend_p0_q, dr_p0_q;
  reg [NCW_P-1:0] pend_ncols_q, dr_ncols_q;
  // The meta rides along the MAC array's extra operand and product stages (rtl/mac_pe.v)
  // first, so it reaches pend_* 3 cycles before its res_valid_i, as the next tile's can
  // only 3 (GAP) or more cycles later.
  localparam integer MW_META = 1 + TAW + 2 * PW + NCW_P;
  reg [MW_META-1:0] meta1_q, meta2_q;
  always @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      meta1_q <= {MW_META{1'b0}};
      meta2_q <= {MW_META{1'b0}};
    end else begin
      meta1_q <= {tile_issued_i, tile_t_i, tile_out_base_i, tile_p0_i, tile_ncols_i};
      meta2_q <= meta1_q;
    end
  end
  wire            issued_d = meta2_q[MW_META-1];
  wire [TAW-1:0]  t_d      = meta2_q[2*PW+NCW_P +: TAW];
  wire [PW-1:0]   base_d   = meta2_q[PW+NCW_P +: PW];
  wire [PW-1:0]   p0_d     = meta2_q[NCW_P +: PW];
  wire [NCW_P-1:0] ncols_d = meta2_q[0 +: NCW_P];
  always @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      pend_t_q     <= {TAW{1'b0}};
      pend_base_q  <= {PW{1'b0}};
      pend_p0_q    <= {PW{1'b0}};
      pend_ncols_q <= {NCW_P{1'b0}};
    end else if (issued_d) begin
      pend_t_q     <= t_d;
      pend_base_q  <= base_d;
      pend_p0_q    <= p0_d;
      pend_ncols_q <= ncols_d;
    end
  end

  // ---------------------------------------------------------------- D0: row addresses
  reg                d_active_q;
  reg [RSELW_P-1:0]  d_row_q;
  reg                d_go;
  reg [RSELW_P-1:0]  row;
  reg [TAW-1:0]      mt_t;
  reg [PW-1:0]       p;
  /* verilator lint_off UNUSEDSIGNAL */
  reg [PW-1:0]       oaddr;  // the low OAW / RAW bits address the memories
  /* verilator lint_on UNUSEDSIGNAL */
  reg [NCW_P-1:0]    mt_ncols;
  reg                wr;
  always @(*) begin
    d_go     = res_valid_i || d_active_q;
    row      = res_valid_i ? {RSELW_P{1'b0}} : d_row_q;
    mt_t     = res_valid_i ? pend_t_q : dr_t_q;
    mt_ncols = res_valid_i ? pend_ncols_q : dr_ncols_q;
    p        = (res_valid_i ? pend_p0_q : dr_p0_q) + {{(PW-RSELW_P){1'b0}}, row};
    oaddr    = (res_valid_i ? pend_base_q : dr_base_q) + p;
    wr       = $signed(p) < $signed(pix_end_i);
  end
  assign pm_raddr_o  = mt_t;
  assign res_raddr_o = wr ? oaddr[RAW-1:0] : {RAW{1'b0}};

  always @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      d_active_q <= 1'b0;
      d_row_q    <= {RSELW_P{1'b0}};
      dr_t_q     <= {TAW{1'b0}};
      dr_base_q  <= {PW{1'b0}};
      dr_p0_q    <= {PW{1'b0}};
      dr_ncols_q <= {NCW_P{1'b0}};
    end else if (res_valid_i) begin
      dr_t_q     <= pend_t_q;
      dr_base_q  <= pend_base_q;
      dr_p0_q    <= pend_p0_q;
      dr_ncols_q <= pend_ncols_q;
      d_active_q <= (ROWS > 1);
      d_row_q    <= (ROWS > 1) ? {{(RSELW_P-1){1'b0}}, 1'b1} : {RSELW_P{1'b0}};
    end else if (d_active_q) begin
      if (d_row_q == ROW_LAST) begin
        d_active_q <= 1'b0;
        d_row_q    <= {RSELW_P{1'b0}};
      end else begin
        d_row_q <= d_row_q + 1'b1;
      end
    end
  end

  // ---------------------------------------------------------------- D1: requantize
  reg                d1_v_q, d1_wr_q, d1_last_q;
  reg [RSELW_P-1:0]  d1_row_q;
  reg [OAW-1:0]      d1_addr_q;
  reg [NCW_P-1:0]    d1_ncols_q;
  always @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      d1_v_q     <= 1'b0;
      d1_wr_q    <= 1'b0;
      d1_last_q  <= 1'b0;
      d1_row_q   <= {RSELW_P{1'b0}};
      d1_addr_q  <= {OAW{1'b0}};
      d1_ncols_q <= {NCW_P{1'b0}};
    end else begin
      d1_v_q     <= d_go;
      d1_wr_q    <= d_go && wr;
      d1_last_q  <= d_go && (row == ROW_LAST);
      d1_row_q   <= row;
      d1_addr_q  <= oaddr[OAW-1:0];
      d1_ncols_q <= mt_ncols;
    end
  end
  assign rd_row_o = d1_row_q;

  // ---------------------------------------------------------------- D2: operand registers
  // The bank row, the per-channel parameters and r - zr are registered before the
  // requantizer's multiplies (the bank's row select and the memories' outputs would
  // otherwise run straight into the DSP blocks).
  reg [COLS*RXW-1:0] rx;
  integer c;
  always @(*) begin
    for (c = 0; c < COLS; c = c + 1) begin
      rx[c*RXW +: RXW] = {{2{r_signed_i & res_rdata_i[c*ABITS + ABITS-1]}}, res_rdata_i[c*ABITS +: ABITS]}
                         - r_zp_i;
    end
  end

  reg                      d2_v_q, d2_wr_q, d2_last_q;
  reg [OAW-1:0]            d2_addr_q;
  reg [NCW_P-1:0]          d2_ncols_q;
  reg [COLS*ACCW-1:0]      acc2_q;
  reg [COLS*MULT_BITS-1:0] m2_q, rm2_q;
  reg [COLS*SB-1:0]        s2_q;
  reg [COLS*RXW-1:0]       rx2_q;
  always @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      d2_v_q     <= 1'b0;
      d2_wr_q    <= 1'b0;
      d2_last_q  <= 1'b0;
      d2_addr_q  <= {OAW{1'b0}};
      d2_ncols_q <= {NCW_P{1'b0}};
      acc2_q     <= {(COLS*ACCW){1'b0}};
      m2_q       <= {(COLS*MULT_BITS){1'b0}};
      rm2_q      <= {(COLS*MULT_BITS){1'b0}};
      s2_q       <= {(COLS*SB){1'b0}};
      rx2_q      <= {(COLS*RXW){1'b0}};
    end else begin
      d2_v_q     <= d1_v_q;
      d2_wr_q    <= d1_wr_q;
      d2_last_q  <= d1_last_q;
      d2_addr_q  <= d1_addr_q;
      d2_ncols_q <= d1_ncols_q;
      if (d1_v_q) begin
        acc2_q <= rd_res_i;
        m2_q   <= m_rdata_i;
        rm2_q  <= rm_rdata_i;
        rx2_q  <= rx;
        for (c = 0; c < COLS; c = c + 1) begin
          s2_q[c*SB +: SB] <= s_rdata_i[c*8 +: SB];
        end
      end
    end
  end

  // residual term per lane: (r - zr) * m_r, 0 without a residual (requant registers it
  // beside its partial products)
  reg [COLS*ADDW-1:0] radd;
  always @(*) begin
    for (c = 0; c < COLS; c = c + 1) begin
      radd[c*ADDW +: ADDW] = res_en_i
        ? $signed({{(ADDW-RXW){rx2_q[c*RXW + RXW-1]}}, rx2_q[c*RXW +: RXW]}) *
          $signed({{(ADDW-MULT_BITS+1){1'b0}}, rm2_q[c*MULT_BITS +: MULT_BITS-1]})
        : {ADDW{1'b0}};
    end
  end

  wire                 rq_valid;
  wire [COLS*OUTW-1:0] rq_y;
  requant #(
    .LANES(COLS), .ACCW(ACCW), .MULT_BITS(MULT_BITS), .SHIFT_BITS(SB), .OUTW(OUTW),
    .ADD_BITS(ADDW)
  ) u_requant (
    .clk_i(clk_i), .rst_ni(rst_ni), .valid_i(d2_v_q),
    .acc_i(acc2_q), .m_i(m2_q), .s_i(s2_q),
    .zp_i({COLS{y_zp_i}}), .qmin_i({COLS{qmin_i}}), .qmax_i({COLS{qmax_i}}), .add_i(radd),
    .valid_o(rq_valid), .y_o(rq_y)
  );

  // ---------------------------------------------------------------- write back
  reg [REQ_LAT*OAW-1:0]   pl_addr_q;
  reg [REQ_LAT-1:0]       pl_wr_q, pl_last_q;
  reg [REQ_LAT*NCW_P-1:0] pl_ncols_q;
  always @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      pl_addr_q  <= {(REQ_LAT*OAW){1'b0}};
      pl_wr_q    <= {REQ_LAT{1'b0}};
      pl_last_q  <= {REQ_LAT{1'b0}};
      pl_ncols_q <= {(REQ_LAT*NCW_P){1'b0}};
    end else begin
      pl_addr_q  <= {pl_addr_q[(REQ_LAT-1)*OAW-1:0], d2_addr_q};
      pl_wr_q    <= {pl_wr_q[REQ_LAT-2:0], d2_wr_q};
      pl_last_q  <= {pl_last_q[REQ_LAT-2:0], d2_last_q};
      pl_ncols_q <= {pl_ncols_q[(REQ_LAT-1)*NCW_P-1:0], d2_ncols_q};
    end
  end

  reg [COLS*OBITS-1:0] wdata;
  integer l;
  always @(*) begin
    for (l = 0; l < COLS; l = l + 1) begin
      wdata[l*OBITS +: OBITS] = (l < pl_ncols_q[(REQ_LAT-1)*NCW_P +: NCW_P])
                                ? rq_y[l*OUTW +: OBITS] : {OBITS{1'b0}};
    end
  end

  assign out_we_o       = rq_valid && pl_wr_q[REQ_LAT-1];
  assign out_waddr_o    = pl_addr_q[(REQ_LAT-1)*OAW +: OAW];
  assign out_wdata_o    = wdata;
  assign tile_written_o = rq_valid && pl_last_q[REQ_LAT-1];

endmodule

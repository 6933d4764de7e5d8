// Memory-driven wrapper for rtl/eltwise.v (sim/test_eltwise.py, t2c.sim.units.eltwise).
//
// Every operand streams per element (one value per line, NVEC*LANES values plus one guard
// word each; element e = v*LANES + l is lane l of vector v):
//   A_FILE, B_FILE    codes a, b (IN_BITS + 1 bits, two's complement)
//   MA_FILE, MB_FILE  multipliers ma, mb (MULT_BITS bits)
//   S_FILE            shifts (SHIFT_BITS bits)
//   Z_FILE            {za, zb (IN_BITS + 1 each), zy, qmin, qmax (OUT_BITS + 1 each)} packed,
//                     qmax in the lowest bits (two's complement fields)
// One vector is issued per cycle (bubbles when GAPS != 0); every output vector is stored
// in order and written to Y_FILE (OUT_BITS + 1 bits per element), then `done` rises and
// `cycles` holds the cycle count.  (Clock and reset: tb_harness; images, issue, dump:
// tb_image, tb_feed, tb_dump.)
module tb_eltwise #(
  parameter integer LANES      = 1,
  parameter integer IN_BITS    = 8,
  parameter integer OUT_BITS   = 8,
  parameter integer MULT_BITS  = 32,
  parameter integer SHIFT_BITS = 6,
  parameter integer NVEC       = 1,
  parameter integer GAPS       = 0,
  parameter integer GAP_SEED   = 1,
  parameter         A_FILE     = "",
  parameter         B_FILE     = "",
  parameter         MA_FILE    = "",
  parameter         MB_FILE    = "",
  parameter         S_FILE     = "",
  parameter         Z_FILE     = "",
  parameter         Y_FILE     = ""
) ();

  localparam integer XW  = IN_BITS + 1;
  localparam integer QW  = OUT_BITS + 1;
  localparam integer ZW  = 2 * XW + 3 * QW;
  localparam integer NEL = NVEC * LANES;
  localparam integer OPW = 2 * XW + 2 * MULT_BITS + SHIFT_BITS + ZW;   // one lane's operands

  wire        clk, rst_n, gap, finish, done;
  /* verilator lint_off UNUSEDSIGNAL */
  wire [31:0] cyc, cycles;  // cycles (with done): read by t2c.sim.cocotb_side
  /* verilator lint_on UNUSEDSIGNAL */
  tb_harness #(.GAPS(GAPS), .GAP_SEED(GAP_SEED)) u_harness (
    .clk_o(clk), .rst_no(rst_n), .cyc_o(cyc), .gap_o(gap),
    .finish_i(finish), .done_o(done), .cycles_o(cycles)
  );

  // ---------------------------------------------------------------- issue
  wire [31:0]                 vin;
  wire [LANES*XW-1:0]         a_rd, a_q, b_rd, b_q;
  wire [LANES*MULT_BITS-1:0]  ma_rd, ma_q, mb_rd, mb_q;
  wire [LANES*SHIFT_BITS-1:0] s_rd, s_q;
  wire [LANES*ZW-1:0]         z_rd, z_q;
  tb_image #(.WIDTH(XW), .WORDS(NEL), .LANES(LANES), .FILE(A_FILE)) u_a (.addr_i(vin), .rd_o(a_rd));
  tb_image #(.WIDTH(XW), .WORDS(NEL), .LANES(LANES), .FILE(B_FILE)) u_b (.addr_i(vin), .rd_o(b_rd));
  tb_image #(.WIDTH(MULT_BITS), .WORDS(NEL), .LANES(LANES), .FILE(MA_FILE)) u_ma (
    .addr_i(vin), .rd_o(ma_rd));
  tb_image #(.WIDTH(MULT_BITS), .WORDS(NEL), .LANES(LANES), .FILE(MB_FILE)) u_mb (
    .addr_i(vin), .rd_o(mb_rd));
  tb_image #(.WIDTH(SHIFT_BITS), .WORDS(NEL), .LANES(LANES), .FILE(S_FILE)) u_s (
    .addr_i(vin), .rd_o(s_rd));
  tb_image #(.WIDTH(ZW), .WORDS(NEL), .LANES(LANES), .FILE(Z_FILE)) u_z (.addr_i(vin), .rd_o(z_rd));

  wire valid_i, valid_o;
  tb_feed #(.NVEC(NVEC), .WIDTH(LANES*OPW)) u_feed (
    .clk_i(clk), .rst_ni(rst_n), .gap_i(gap), .idx_o(vin),
    .data_i({z_rd, s_rd, mb_rd, ma_rd, b_rd, a_rd}), .valid_o(valid_i),
    .data_o({z_q, s_q, mb_q, ma_q, b_q, a_q})
  );

  // unpack {za, zb, zy, qmin, qmax} of every lane onto the unit's buses
  wire [LANES*XW-1:0] za, zb;
  wire [LANES*QW-1:0] zy, qmin, qmax;
  genvar l;
  generate
    for (l = 0; l < LANES; l = l + 1) begin : g_lane
      assign {za[l*XW +: XW], zb[l*XW +: XW], zy[l*QW +: QW], qmin[l*QW +: QW], qmax[l*QW +: QW]}
        = z_q[l*ZW +: ZW];
    end
  endgenerate

  wire [LANES*QW-1:0] y;
  eltwise #(
    .LANES(LANES), .IN_BITS(IN_BITS), .OUT_BITS(OUT_BITS), .MULT_BITS(MULT_BITS),
    .SHIFT_BITS(SHIFT_BITS)
  ) u_dut (
    .clk_i(clk), .rst_ni(rst_n), .valid_i(valid_i), .a_i(a_q), .b_i(b_q), .za_i(za), .zb_i(zb),
    .ma_i(ma_q), .mb_i(mb_q), .s_i(s_q), .zy_i(zy), .qmin_i(qmin), .qmax_i(qmax),
    .valid_o(valid_o), .y_o(y)
  );

  // ---------------------------------------------------------------- capture
  tb_dump #(.WIDTH(QW), .LANES(LANES), .NVEC(NVEC), .FILE(Y_FILE)) u_y (
    .clk_i(clk), .rst_ni(rst_n), .valid_i(valid_o), .data_i(y), .done_i(done), .full_o(finish)
  );

endmodule

// Memory-driven wrapper for rtl/requant.v (see sim/test_requant.py).
//
// Operands: one lane value per line in each image, NVEC*LANES values plus one
// guard word (t2c.sim.images.write_image) that t2c.sim.cocotb_side checks to prove
// the load.
// Element e = v*LANES + l is lane l of vector v.  With ADD_BITS > 0 the requantizer
// has its addend and ADD_FILE holds it (ADD_BITS-bit signed values); with
// ADD_BITS = 0 add_i is tied to 0 (all ones with ADD_TIE != 0: the requantizer ignores
// add_i then, sim/test_requant.py checks that) and ADD_FILE is not read.  One vector is issued
// per cycle (bubbles when GAPS != 0); every output vector is stored in order,
// written to Y_FILE with $writememh, then `done` rises and `cycles` holds the cycle
// count.  (Clock and reset: tb_harness; images, issue, dump: tb_image, tb_feed,
// tb_dump.)
module tb_requant #(
  parameter integer LANES     = 8,
  parameter integer MULT_BITS = 32,
  parameter integer OUTW      = 16,
  parameter integer ADD_BITS  = 0,
  parameter integer ADD_TIE   = 0,   // ADD_BITS = 0: add_i all zeros (0) or all ones (!= 0)
  parameter integer NVEC      = 1,
  parameter integer GAPS      = 0,
  parameter integer GAP_SEED  = 1,
  parameter         ACC_FILE  = "",
  parameter         M_FILE    = "",
  parameter         S_FILE    = "",
  parameter         ZP_FILE   = "",
  parameter         QMIN_FILE = "",
  parameter         QMAX_FILE = "",
  parameter         ADD_FILE  = "",
  parameter         Y_FILE    = ""
) ();

  localparam integer ACCW       = 32;
  localparam integer SHIFT_BITS = 6;
  localparam integer ADDW       = (ADD_BITS > 0) ? ADD_BITS : 1;
  localparam integer NEL        = NVEC * LANES;
  localparam integer OPW        = ACCW + MULT_BITS + SHIFT_BITS + 3 * OUTW + ADDW;

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
  wire [LANES*ACCW-1:0]       acc_rd, acc_bus;
  wire [LANES*MULT_BITS-1:0]  m_rd, m_bus;
  wire [LANES*SHIFT_BITS-1:0] s_rd, s_bus;
  wire [LANES*OUTW-1:0]       zp_rd, zp_bus, qmin_rd, qmin_bus, qmax_rd, qmax_bus;
  wire [LANES*ADDW-1:0]       add_rd, add_bus;
  tb_image #(.WIDTH(ACCW), .WORDS(NEL), .LANES(LANES), .FILE(ACC_FILE)) u_acc (
    .addr_i(vin), .rd_o(acc_rd));
  tb_image #(.WIDTH(MULT_BITS), .WORDS(NEL), .LANES(LANES), .FILE(M_FILE)) u_m (
    .addr_i(vin), .rd_o(m_rd));
  tb_image #(.WIDTH(SHIFT_BITS), .WORDS(NEL), .LANES(LANES), .FILE(S_FILE)) u_s (
    .addr_i(vin), .rd_o(s_rd));
  tb_image #(.WIDTH(OUTW), .WORDS(NEL), .LANES(LANES), .FILE(ZP_FILE)) u_zp (
    .addr_i(vin), .rd_o(zp_rd));
  tb_image #(.WIDTH(OUTW), .WORDS(NEL), .LANES(LANES), .FILE(QMIN_FILE)) u_qmin (
    .addr_i(vin), .rd_o(qmin_rd));
  tb_image #(.WIDTH(OUTW), .WORDS(NEL), .LANES(LANES), .FILE(QMAX_FILE)) u_qmax (
    .addr_i(vin), .rd_o(qmax_rd));
  generate
    if (ADD_BITS > 0) begin : g_add
      tb_image #(.WIDTH(ADDW), .WORDS(NEL), .LANES(LANES), .FILE(ADD_FILE)) u_add (
        .addr_i(vin), .rd_o(add_rd));
    end else begin : g_no_add
      assign add_rd = {(LANES*ADDW){ADD_TIE != 0}};
    end
  endgenerate

  wire valid_i, valid_o;
  tb_feed #(.NVEC(NVEC), .WIDTH(LANES*OPW)) u_feed (
    .clk_i(clk), .rst_ni(rst_n), .gap_i(gap), .idx_o(vin),
    .data_i({add_rd, qmax_rd, qmin_rd, zp_rd, s_rd, m_rd, acc_rd}), .valid_o(valid_i),
    .data_o({add_bus, qmax_bus, qmin_bus, zp_bus, s_bus, m_bus, acc_bus})
  );

  wire [LANES*OUTW-1:0] y_bus;
  requant #(
    .LANES(LANES), .ACCW(ACCW), .MULT_BITS(MULT_BITS), .SHIFT_BITS(SHIFT_BITS), .OUTW(OUTW),
    .ADD_BITS(ADD_BITS)
  ) u_dut (
    .clk_i(clk), .rst_ni(rst_n), .valid_i(valid_i),
    .acc_i(acc_bus), .m_i(m_bus), .s_i(s_bus),
    .zp_i(zp_bus), .qmin_i(qmin_bus), .qmax_i(qmax_bus), .add_i(add_bus),
    .valid_o(valid_o), .y_o(y_bus)
  );

  // ---------------------------------------------------------------- capture
  tb_dump #(.WIDTH(OUTW), .LANES(LANES), .NVEC(NVEC), .FILE(Y_FILE)) u_y (
    .clk_i(clk), .rst_ni(rst_n), .valid_i(valid_o), .data_i(y_bus), .done_i(done),
    .full_o(finish)
  );

endmodule

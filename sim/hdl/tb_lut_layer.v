// Memory-driven wrapper for rtl/lut_layer.v (see sim/test_vit_layers.py).
//
// TABLE_FILE is the layer's table (2^IN_BITS OUT_BITS-bit entries, no guard word).
// X_FILE holds NX input codes (IN_BITS bits, plus a guard word); X_QMIN is the
// layer's x_qmin modulo 2^IN_BITS.  The codes are issued one per cycle (bubbles when
// GAPS != 0), every output is stored in order and written to Y_FILE, then `done`
// rises and `cycles` holds the cycle count.
// (Clock and reset: tb_harness; images, issue, dump: tb_image, tb_feed, tb_dump.)
module tb_lut_layer #(
  parameter integer IN_BITS    = 8,
  parameter integer OUT_BITS   = 8,
  parameter integer OUT_SIGNED = 1,
  parameter integer X_QMIN     = 128,
  parameter integer NX         = 1,
  parameter integer GAPS       = 0,
  parameter integer GAP_SEED   = 1,
  parameter         TABLE_FILE = "",
  parameter         X_FILE     = "",
  parameter         Y_FILE     = ""
) ();

  wire        clk, rst_n, gap, finish, done;
  /* verilator lint_off UNUSEDSIGNAL */
  wire [31:0] cyc, cycles;  // cycles (with done): read by the cocotb test (simutil.wait_done)
  /* verilator lint_on UNUSEDSIGNAL */
  tb_harness #(.GAPS(GAPS), .GAP_SEED(GAP_SEED)) u_harness (
    .clk_o(clk), .rst_no(rst_n), .cyc_o(cyc), .gap_o(gap),
    .finish_i(finish), .done_o(done), .cycles_o(cycles)
  );

  wire [31:0]        xin;
  wire [IN_BITS-1:0] x_rd, x;
  wire               valid_i, valid_o;
  tb_image #(.WIDTH(IN_BITS), .WORDS(NX), .FILE(X_FILE)) u_x (.addr_i(xin), .rd_o(x_rd));
  tb_feed #(.NVEC(NX), .WIDTH(IN_BITS)) u_feed (
    .clk_i(clk), .rst_ni(rst_n), .gap_i(gap), .idx_o(xin), .data_i(x_rd),
    .valid_o(valid_i), .data_o(x)
  );

  wire [IN_BITS-1:0]  x_qmin = X_QMIN[IN_BITS-1:0];
  wire [OUT_BITS-1:0] y;
  lut_layer #(
    .IN_BITS(IN_BITS), .OUT_BITS(OUT_BITS), .OUT_SIGNED(OUT_SIGNED), .INIT_FILE(TABLE_FILE)
  ) u_dut (
    .clk_i(clk), .rst_ni(rst_n), .x_qmin_i(x_qmin), .valid_i(valid_i), .x_i(x),
    .valid_o(valid_o), .y_o(y)
  );

  tb_dump #(.WIDTH(OUT_BITS), .NVEC(NX), .FILE(Y_FILE)) u_y (
    .clk_i(clk), .rst_ni(rst_n), .valid_i(valid_o), .data_i(y), .done_i(done), .full_o(finish)
  );

endmodule

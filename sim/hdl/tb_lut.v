// Memory-driven wrapper for rtl/lut.v (see sim/test_lut.py).
//
// TABLE_FILE is the LUT's own INIT_FILE (2^IN_BITS entries, no guard word).
// X_FILE holds NX inputs (IN_BITS+FRAC_BITS bits, plus a guard word); they are
// issued one per cycle (bubbles when GAPS != 0), every output is stored in order
// and written to Y_FILE, then `done` rises and `cycles` holds the cycle count.
// (Clock and reset: tb_harness; images, issue, dump: tb_image, tb_feed, tb_dump.)
module tb_lut #(
  parameter integer IN_BITS    = 8,
  parameter integer FRAC_BITS  = 0,
  parameter integer OUT_BITS   = 8,
  parameter integer OUT_SIGNED = 1,
  parameter integer NX         = 1,
  parameter integer GAPS       = 0,
  parameter integer GAP_SEED   = 1,
  parameter         TABLE_FILE = "",
  parameter         X_FILE     = "",
  parameter         Y_FILE     = ""
) ();

  localparam integer XW = IN_BITS + FRAC_BITS;

  wire        clk, rst_n, gap, finish, done;
  /* verilator lint_off UNUSEDSIGNAL */
  wire [31:0] cyc, cycles;  // cycles (with done): read by t2c.sim.cocotb_side
  /* verilator lint_on UNUSEDSIGNAL */
  tb_harness #(.GAPS(GAPS), .GAP_SEED(GAP_SEED)) u_harness (
    .clk_o(clk), .rst_no(rst_n), .cyc_o(cyc), .gap_o(gap),
    .finish_i(finish), .done_o(done), .cycles_o(cycles)
  );

  wire [31:0]   xin;
  wire [XW-1:0] x_rd, x;
  wire          valid_i, valid_o;
  tb_image #(.WIDTH(XW), .WORDS(NX), .FILE(X_FILE)) u_x (.addr_i(xin), .rd_o(x_rd));
  tb_feed #(.NVEC(NX), .WIDTH(XW)) u_feed (
    .clk_i(clk), .rst_ni(rst_n), .gap_i(gap), .idx_o(xin), .data_i(x_rd),
    .valid_o(valid_i), .data_o(x)
  );

  wire [OUT_BITS-1:0] y;
  lut #(
    .IN_BITS(IN_BITS), .FRAC_BITS(FRAC_BITS), .OUT_BITS(OUT_BITS),
    .OUT_SIGNED(OUT_SIGNED), .INIT_FILE(TABLE_FILE)
  ) u_dut (
    .clk_i(clk), .rst_ni(rst_n), .valid_i(valid_i), .x_i(x), .valid_o(valid_o), .y_o(y)
  );

  tb_dump #(.WIDTH(OUT_BITS), .NVEC(NX), .FILE(Y_FILE)) u_y (
    .clk_i(clk), .rst_ni(rst_n), .valid_i(valid_o), .data_i(y), .done_i(done), .full_o(finish)
  );

endmodule

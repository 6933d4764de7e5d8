// The thin wrapper that lets t2c's testbench drive my_lut.v: t2c's harness (clock, reset,
// `done`/`cycles`), one input image, the issue counter and the output dump (sim/hdl),
// connected to the unit's own ports.  File and size parameters come from my_lut_unit.py.
module tb_my_lut #(
  parameter integer CODE_BITS  = 8,
  parameter integer VALUE_BITS = 8,
  parameter integer NX         = 1,
  parameter         TABLE_FILE = "",
  parameter         X_FILE     = "",
  parameter         Y_FILE     = ""
) ();

  wire        clk, rst_n, gap, finish, done;
  /* verilator lint_off UNUSEDSIGNAL */
  wire [31:0] cyc, cycles;
  wire        ready;  // always 1 in this design
  /* verilator lint_on UNUSEDSIGNAL */
  tb_harness u_harness (
    .clk_o(clk), .rst_no(rst_n), .cyc_o(cyc), .gap_o(gap),
    .finish_i(finish), .done_o(done), .cycles_o(cycles)
  );

  wire [31:0]          xin;
  wire [CODE_BITS-1:0] x_rd, x;
  wire                 x_valid, y_valid;
  tb_image #(.WIDTH(CODE_BITS), .WORDS(NX), .FILE(X_FILE)) u_x (.addr_i(xin), .rd_o(x_rd));
  tb_feed #(.NVEC(NX), .WIDTH(CODE_BITS)) u_feed (
    .clk_i(clk), .rst_ni(rst_n), .gap_i(gap), .idx_o(xin), .data_i(x_rd),
    .valid_o(x_valid), .data_o(x)
  );

  wire [VALUE_BITS-1:0] y;
  my_lut #(.CODE_BITS(CODE_BITS), .VALUE_BITS(VALUE_BITS), .TABLE(TABLE_FILE)) u_dut (
    .clk(clk), .rst_n(rst_n), .in_valid(x_valid), .in_ready(ready), .in_code(x),
    .out_valid(y_valid), .out_value(y)
  );

  tb_dump #(.WIDTH(VALUE_BITS), .NVEC(NX), .FILE(Y_FILE)) u_y (
    .clk_i(clk), .rst_ni(rst_n), .valid_i(y_valid), .data_i(y), .done_i(done), .full_o(finish)
  );

endmodule

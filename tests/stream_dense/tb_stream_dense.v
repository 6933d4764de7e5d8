// The thin wrapper that lets t2c's testbench drive stream_dense.v: t2c's harness, the
// input stream (tb_image + tb_feed), the weight and channel memories (tb_image, read
// combinationally), the output dump.  Parameters come from stream_dense_unit.py.
module tb_stream_dense #(
  parameter integer XBITS = 8, parameter integer XSIGNED = 1, parameter integer WBITS = 8,
  parameter integer OUTW = 8, parameter integer K = 4, parameter integer N = 4,
  parameter integer NX = 4, parameter integer NY = 4,
  parameter integer ZX = 0, parameter integer ZY = 0, parameter integer QMIN = -128,
  parameter integer QMAX = 127,
  parameter X_FILE = "", parameter W_FILE = "", parameter B_FILE = "", parameter M_FILE = "",
  parameter S_FILE = "", parameter Y_FILE = ""
) ();

  wire        clk, rst_n, gap, finish, done;
  /* verilator lint_off UNUSEDSIGNAL */
  wire [31:0] cyc, cycles;
  /* verilator lint_on UNUSEDSIGNAL */
  tb_harness u_harness (
    .clk_o(clk), .rst_no(rst_n), .cyc_o(cyc), .gap_o(gap),
    .finish_i(finish), .done_o(done), .cycles_o(cycles)
  );

  wire [31:0]      xin, w_addr, c_addr;
  wire [XBITS-1:0] x_rd, x;
  wire             x_valid, y_valid;
  tb_image #(.WIDTH(XBITS), .WORDS(NX), .FILE(X_FILE)) u_x (.addr_i(xin), .rd_o(x_rd));
  tb_feed #(.NVEC(NX), .WIDTH(XBITS)) u_feed (
    .clk_i(clk), .rst_ni(rst_n), .gap_i(gap), .idx_o(xin), .data_i(x_rd), .valid_o(x_valid), .data_o(x)
  );

  wire [WBITS-1:0] w;
  wire [31:0]      b, m;
  wire [7:0]       s;
  tb_image #(.WIDTH(WBITS), .WORDS(N * K), .FILE(W_FILE)) u_w (.addr_i(w_addr), .rd_o(w));
  tb_image #(.WIDTH(32), .WORDS(N), .FILE(B_FILE)) u_b (.addr_i(c_addr), .rd_o(b));
  tb_image #(.WIDTH(32), .WORDS(N), .FILE(M_FILE)) u_m (.addr_i(c_addr), .rd_o(m));
  tb_image #(.WIDTH(8), .WORDS(N), .FILE(S_FILE)) u_s (.addr_i(c_addr), .rd_o(s));

  wire [OUTW-1:0] y;
  stream_dense #(.XBITS(XBITS), .XSIGNED(XSIGNED), .WBITS(WBITS), .OUTW(OUTW), .K(K), .N(N), .NX(NX),
                 .ZX(ZX), .ZY(ZY), .QMIN(QMIN), .QMAX(QMAX)) u_dut (
    .clk(clk), .rst_n(rst_n), .in_valid(x_valid), .in_data(x), .out_valid(y_valid), .out_data(y),
    .w_addr(w_addr), .w_data(w), .c_addr(c_addr), .bias_data(b), .m_data(m), .s_data(s)
  );

  tb_dump #(.WIDTH(OUTW), .NVEC(NY), .FILE(Y_FILE)) u_y (
    .clk_i(clk), .rst_ni(rst_n), .valid_i(y_valid), .data_i(y), .done_i(done), .full_o(finish)
  );

endmodule

// Memory-driven wrapper for rtl/softmax.v (sim/test_softmax.py, t2c.sim.units.softmax).
//
// X_FILE holds NX input codes (IN_BITS bits, rows back to back, plus a guard word);
// N_FILE and Q_FILE hold each of the NROWS rows' length n (NW bits) and qmax
// (OUT_BITS bits), plus a guard word each.  EXP_FILE is the softmax's exp table
// (2^IN_BITS 16-bit entries, no guard).  Inputs are offered one per cycle with a
// valid/ready register (bubbles when GAPS != 0) and n_i/qmax_i of their row; every
// output is stored in order with its last_o flag, the outputs are written to Y_FILE
// and the flags to L_FILE, then `done` rises and `cycles` holds the cycle count.
// (Clock and reset: tb_harness; images, issue and dump: tb_image, tb_rowfeed, tb_dump.)
module tb_softmax #(
  parameter integer IN_BITS   = 8,
  parameter integer IN_SIGNED = 1,
  parameter integer OUT_BITS  = 8,
  parameter integer MAX_N     = 256,
  parameter integer NX        = 1,
  parameter integer NROWS     = 1,
  parameter integer GAPS      = 0,
  parameter integer GAP_SEED  = 1,
  parameter         EXP_FILE  = "",
  parameter         X_FILE    = "",
  parameter         N_FILE    = "",
  parameter         Q_FILE    = "",
  parameter         Y_FILE    = "",
  parameter         L_FILE    = ""
) ();

  localparam integer NW = $clog2(MAX_N + 1);

  wire        clk, rst_n, gap, finish, done;
  /* verilator lint_off UNUSEDSIGNAL */
  wire [31:0] cyc, cycles;  // cycles (with done): read by the cocotb test (t2c.sim.cocotb_side)
  /* verilator lint_on UNUSEDSIGNAL */
  tb_harness #(.GAPS(GAPS), .GAP_SEED(GAP_SEED)) u_harness (
    .clk_o(clk), .rst_no(rst_n), .cyc_o(cyc), .gap_o(gap),
    .finish_i(finish), .done_o(done), .cycles_o(cycles)
  );

  // ---------------------------------------------------------------- issue
  // A valid/ready source register (tb_rowfeed): x with its row's n and qmax.
  wire [31:0]         xin, row;
  wire [IN_BITS-1:0]  x_rd;
  wire [NW-1:0]       n_rd;
  wire [OUT_BITS-1:0] q_rd;
  tb_image #(.WIDTH(IN_BITS), .WORDS(NX), .FILE(X_FILE)) u_x (.addr_i(xin), .rd_o(x_rd));
  tb_image #(.WIDTH(NW), .WORDS(NROWS), .FILE(N_FILE)) u_n (.addr_i(row), .rd_o(n_rd));
  tb_image #(.WIDTH(OUT_BITS), .WORDS(NROWS), .FILE(Q_FILE)) u_q (.addr_i(row), .rd_o(q_rd));

  wire               ready, v_q;
  wire [IN_BITS-1:0]  x_q;
  wire [NW-1:0]       n_q;
  wire [OUT_BITS-1:0] qm_q;
  tb_rowfeed #(.NVEC(NX), .WIDTH(IN_BITS + NW + OUT_BITS), .NW(NW)) u_feed (
    .clk_i(clk), .rst_ni(rst_n), .gap_i(gap), .ready_i(ready), .idx_o(xin), .row_o(row),
    .n_i(n_rd), .data_i({x_rd, n_rd, q_rd}), .valid_o(v_q), .data_o({x_q, n_q, qm_q})
  );

  wire                valid_o, last_o;
  wire [OUT_BITS-1:0] y;
  softmax #(
    .IN_BITS(IN_BITS), .IN_SIGNED(IN_SIGNED), .OUT_BITS(OUT_BITS), .MAX_N(MAX_N),
    .EXP_FILE(EXP_FILE)
  ) u_dut (
    .clk_i(clk), .rst_ni(rst_n), .n_i(n_q), .qmax_i(qm_q),
    .valid_i(v_q), .ready_o(ready), .x_i(x_q),
    .valid_o(valid_o), .last_o(last_o), .y_o(y)
  );

  // ---------------------------------------------------------------- capture
  wire y_full, l_full;
  tb_dump #(.WIDTH(OUT_BITS), .NVEC(NX), .FILE(Y_FILE)) u_y (
    .clk_i(clk), .rst_ni(rst_n), .valid_i(valid_o), .data_i(y), .done_i(done), .full_o(y_full)
  );
  tb_dump #(.WIDTH(1), .NVEC(NX), .FILE(L_FILE)) u_l (
    .clk_i(clk), .rst_ni(rst_n), .valid_i(valid_o), .data_i(last_o), .done_i(done),
    .full_o(l_full)
  );
  assign finish = y_full && l_full;

endmodule

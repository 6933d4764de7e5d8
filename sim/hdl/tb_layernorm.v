// Memory-driven wrapper for rtl/layernorm.v (sim/test_layernorm.py, t2c.sim.units.layernorm).
//
// X_FILE, G_FILE, O_FILE hold NX input codes (IN_BITS bits) and each element's gain
// (GAIN_BITS) and offset (OFF_BITS), rows back to back, plus a guard word each; D_FILE
// holds one descriptor word per row (NROWS, plus a guard word), packed
//   {n (NW bits), G (SHW), eps (EPS_BITS), zy, qmin, qmax (OUT_BITS + 1 each)}
// with qmax in the lowest bits (two's complement fields).
// Elements are offered one per cycle with a valid/ready register (bubbles when
// GAPS != 0) together with their row's descriptor; every output is stored in order
// with its last_o flag and the row's r_o; they are written to Y_FILE, L_FILE and
// R_FILE, then `done` rises and `cycles` holds the cycle count.
// (Clock and reset: tb_harness; images, issue and dump: tb_image, tb_rowfeed, tb_dump.)
module tb_layernorm #(
  parameter integer IN_BITS    = 8,
  parameter integer IN_SIGNED  = 1,
  parameter integer OUT_BITS   = 8,
  parameter integer MAX_N      = 256,
  parameter integer GAIN_BITS  = 16,
  parameter integer OFF_BITS   = 32,
  parameter integer MAX_SHIFT  = 30,
  parameter integer EPS_BITS   = 32,
  parameter integer NX         = 1,
  parameter integer NROWS      = 1,
  parameter integer GAPS       = 0,
  parameter integer GAP_SEED   = 1,
  parameter         X_FILE      = "",
  parameter         G_FILE      = "",
  parameter         O_FILE      = "",
  parameter         D_FILE      = "",
  parameter         Y_FILE      = "",
  parameter         L_FILE      = "",
  parameter         R_FILE      = ""
) ();

  localparam integer NW  = $clog2(MAX_N + 1);
  localparam integer NB  = (MAX_N > 1) ? $clog2(MAX_N) : 1;
  localparam integer RW  = (((2 * IN_BITS + 3 * NB) > EPS_BITS ? (2 * IN_BITS + 3 * NB)
                                                              : EPS_BITS) + 2) / 2;
  localparam integer SHW = $clog2(MAX_SHIFT + 1);
  localparam integer QW  = OUT_BITS + 1;
  localparam integer DSW = NW + SHW + EPS_BITS + 3 * QW;

  wire        clk, rst_n, gap, finish, done;
  /* verilator lint_off UNUSEDSIGNAL */
  wire [31:0] cyc;     // unused here
  wire [31:0] cycles;  // with done: read by the cocotb test (t2c.sim.cocotb_side)
  /* verilator lint_on UNUSEDSIGNAL */
  tb_harness #(.GAPS(GAPS), .GAP_SEED(GAP_SEED)) u_harness (
    .clk_o(clk), .rst_no(rst_n), .cyc_o(cyc), .gap_o(gap),
    .finish_i(finish), .done_o(done), .cycles_o(cycles)
  );

  // ---------------------------------------------------------------- issue
  // A valid/ready source register (tb_rowfeed): x, gain, offset with the row's descriptor.
  wire [31:0]          xin, row;
  wire [IN_BITS-1:0]   x_rd;
  wire [GAIN_BITS-1:0] g_rd;
  wire [OFF_BITS-1:0]  o_rd;
  wire [DSW-1:0]       d_rd;
  tb_image #(.WIDTH(IN_BITS), .WORDS(NX), .FILE(X_FILE)) u_x (.addr_i(xin), .rd_o(x_rd));
  tb_image #(.WIDTH(GAIN_BITS), .WORDS(NX), .FILE(G_FILE)) u_g (.addr_i(xin), .rd_o(g_rd));
  tb_image #(.WIDTH(OFF_BITS), .WORDS(NX), .FILE(O_FILE)) u_o (.addr_i(xin), .rd_o(o_rd));
  tb_image #(.WIDTH(DSW), .WORDS(NROWS), .FILE(D_FILE)) u_d (.addr_i(row), .rd_o(d_rd));

  wire                 ready, v_q;
  wire [IN_BITS-1:0]   x_q;
  wire [GAIN_BITS-1:0] g_q;
  wire [OFF_BITS-1:0]  o_q;
  wire [DSW-1:0]       d_q;
  tb_rowfeed #(.NVEC(NX), .WIDTH(IN_BITS + GAIN_BITS + OFF_BITS + DSW), .NW(NW)) u_feed (
    .clk_i(clk), .rst_ni(rst_n), .gap_i(gap), .ready_i(ready), .idx_o(xin), .row_o(row),
    .n_i(d_rd[DSW-1 -: NW]), .data_i({x_rd, g_rd, o_rd, d_rd}), .valid_o(v_q),
    .data_o({x_q, g_q, o_q, d_q})
  );

  wire                valid_o, last_o;
  wire [OUT_BITS-1:0] y;
  wire [RW-1:0]       r;
  layernorm #(
    .IN_BITS(IN_BITS), .IN_SIGNED(IN_SIGNED), .OUT_BITS(OUT_BITS), .MAX_N(MAX_N),
    .GAIN_BITS(GAIN_BITS), .OFF_BITS(OFF_BITS), .MAX_SHIFT(MAX_SHIFT), .EPS_BITS(EPS_BITS)
  ) u_dut (
    .clk_i(clk), .rst_ni(rst_n),
    .n_i(d_q[DSW-1 -: NW]), .shift_i(d_q[3*QW+EPS_BITS +: SHW]), .eps_i(d_q[3*QW +: EPS_BITS]),
    .zy_i(d_q[2*QW +: QW]), .qmin_i(d_q[QW +: QW]), .qmax_i(d_q[0 +: QW]),
    .valid_i(v_q), .ready_o(ready), .x_i(x_q), .gain_i(g_q), .offset_i(o_q),
    .valid_o(valid_o), .last_o(last_o), .y_o(y), .r_o(r)
  );

  // ---------------------------------------------------------------- capture
  wire y_full, l_full, r_full;
  tb_dump #(.WIDTH(OUT_BITS), .NVEC(NX), .FILE(Y_FILE)) u_y (
    .clk_i(clk), .rst_ni(rst_n), .valid_i(valid_o), .data_i(y), .done_i(done), .full_o(y_full)
  );
  tb_dump #(.WIDTH(1), .NVEC(NX), .FILE(L_FILE)) u_l (
    .clk_i(clk), .rst_ni(rst_n), .valid_i(valid_o), .data_i(last_o), .done_i(done),
    .full_o(l_full)
  );
  tb_dump #(.WIDTH(RW), .NVEC(NX), .FILE(R_FILE)) u_r (
    .clk_i(clk), .rst_ni(rst_n), .valid_i(valid_o), .data_i(r), .done_i(done), .full_o(r_full)
  );
  assign finish = y_full && l_full && r_full;

endmodule

// Memory-driven wrapper for rtl/lut_layer.v (see sim/test_lut_layer.py).
//
// TABLE_FILE is the layer's table (2^IN_BITS OUT_BITS-bit entries, no guard word).
// X_FILE holds NX input codes (IN_BITS bits, plus a guard word).  The codes are
// issued one per cycle (bubbles when GAPS != 0), every output is stored in order and
// written to Y_FILE, then `done` rises and `cycles` holds the cycle count.
//
// x_qmin: the codes come in NSEG segments of NX / NSEG codes (NSEG divides NX);
// segment s is looked up with x_qmin = X_QMIN + s * QSTEP modulo 2^IN_BITS (NSEG = 1,
// the default: X_QMIN, the layer's x_qmin modulo 2^IN_BITS, for every code).  x_qmin_i
// is a descriptor value, stable while streaming: between two segments the issue
// pauses for HOLD >= 1 cycles (valid_i low) and x_qmin changes in the middle of that
// pause, so with no bubbles a run takes NX + 2 + (NSEG - 1) * HOLD cycles.
// (Clock and reset: tb_harness; images, issue, dump: tb_image, tb_feed, tb_dump.)
module tb_lut_layer #(
  parameter integer IN_BITS    = 8,
  parameter integer OUT_BITS   = 8,
  parameter integer OUT_SIGNED = 1,
  parameter integer X_QMIN     = 128,
  parameter integer NX         = 1,
  parameter integer NSEG       = 1,
  parameter integer QSTEP      = 0,
  parameter integer HOLD       = 4,
  parameter integer GAPS       = 0,
  parameter integer GAP_SEED   = 1,
  parameter         TABLE_FILE = "",
  parameter         X_FILE     = "",
  parameter         Y_FILE     = ""
) ();

  localparam integer SEGLEN = NX / NSEG;
  localparam integer HALF   = HOLD / 2;

  wire        clk, rst_n, gap, finish, done;
  /* verilator lint_off UNUSEDSIGNAL */
  wire [31:0] cyc, cycles;  // cycles (with done): read by the cocotb test (t2c.sim.cocotb_side)
  /* verilator lint_on UNUSEDSIGNAL */
  tb_harness #(.GAPS(GAPS), .GAP_SEED(GAP_SEED)) u_harness (
    .clk_o(clk), .rst_no(rst_n), .cyc_o(cyc), .gap_o(gap),
    .finish_i(finish), .done_o(done), .cycles_o(cycles)
  );

  // ---------------------------------------------------------------- segments
  // seg_q: the segment being issued; at the first code of the next one the issue
  // pauses (boundary) for HOLD cycles, idle_q counting them.
  wire [31:0] xin;
  reg  [31:0] seg_q, idle_q;
  wire        boundary = (NSEG > 1) && (xin < NX) && (xin == (seg_q + 32'd1) * SEGLEN);
  always @(posedge clk or negedge rst_n) begin
    if (!rst_n) begin
      seg_q  <= 32'd0;
      idle_q <= 32'd0;
    end else if (boundary) begin
      if (idle_q + 32'd1 >= HOLD) begin
        seg_q  <= seg_q + 32'd1;
        idle_q <= 32'd0;
      end else begin
        idle_q <= idle_q + 32'd1;
      end
    end
  end
  // x_qmin: the next segment's value after HOLD / 2 of the pause's idle cycles (valid_i
  // is low in the HOLD cycles after the segment's last code)
  wire [31:0] qseg = seg_q + ((boundary && (idle_q > HALF)) ? 32'd1 : 32'd0);
  /* verilator lint_off UNUSEDSIGNAL */
  wire [31:0] qsum = X_QMIN + qseg * QSTEP;  // modulo 2^IN_BITS: the low bits only
  /* verilator lint_on UNUSEDSIGNAL */

  // ---------------------------------------------------------------- issue
  wire [IN_BITS-1:0] x_rd, x;
  wire               valid_i, valid_o;
  tb_image #(.WIDTH(IN_BITS), .WORDS(NX), .FILE(X_FILE)) u_x (.addr_i(xin), .rd_o(x_rd));
  tb_feed #(.NVEC(NX), .WIDTH(IN_BITS)) u_feed (
    .clk_i(clk), .rst_ni(rst_n), .gap_i(gap || boundary), .idx_o(xin), .data_i(x_rd),
    .valid_o(valid_i), .data_o(x)
  );

  wire [IN_BITS-1:0]  x_qmin = qsum[IN_BITS-1:0];
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

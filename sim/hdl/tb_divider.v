// Memory-driven wrapper for rtl/divider.v (see sim/test_divider.py).
//
// OPS_FILE holds NDIV operand pairs, one word each: {dividend, divisor} (DIVISOR_BITS +
// QUOTIENT_BITS and DIVISOR_BITS bits), plus a guard word (one image: a 1-bit divisor
// image could not be checked by its guard word).  A pair is issued (tb_feed) in the
// divider's done cycle or, after a bubble, when it is idle, so it starts the cycle the
// divider can take it: back to back, one division every QUOTIENT_BITS + 1 cycles,
// without bubbles (GAPS = 0).  With GAPS != 0 tb_harness's bubble cycles delay issues
// and, while the divider is busy, raise start_i with inverted operands, which it must
// ignore.  Captured per division, in order:
//   Q_FILE, R_FILE    quotient_o and remainder_o in the done cycle
//   QH_FILE, RH_FILE  the same outputs in the cycle after it (held; possibly the cycle
//                     in which the next start is taken)
//   LAT_FILE          cycles from the start being taken to done_o (32 bits)
// then `done` rises and `cycles` holds the cycle count.  (Clock and reset: tb_harness;
// images, issue, dump: tb_image, tb_feed, tb_dump.)
module tb_divider #(
  parameter integer DIVISOR_BITS  = 8,
  parameter integer QUOTIENT_BITS = 8,
  parameter integer NDIV          = 1,
  parameter integer GAPS          = 0,
  parameter integer GAP_SEED      = 1,
  parameter         OPS_FILE      = "",
  parameter         Q_FILE        = "",
  parameter         R_FILE        = "",
  parameter         QH_FILE       = "",
  parameter         RH_FILE       = "",
  parameter         LAT_FILE      = ""
) ();

  localparam integer VW = DIVISOR_BITS;
  localparam integer QW = QUOTIENT_BITS;
  localparam integer AW = VW + QW;   // dividend

  wire        clk, rst_n, gap, finish, done;
  wire [31:0] cyc;
  /* verilator lint_off UNUSEDSIGNAL */
  wire [31:0] cycles;  // cycles (with done): read by t2c.sim.cocotb_side
  /* verilator lint_on UNUSEDSIGNAL */
  tb_harness #(.GAPS(GAPS), .GAP_SEED(GAP_SEED)) u_harness (
    .clk_o(clk), .rst_no(rst_n), .cyc_o(cyc), .gap_o(gap),
    .finish_i(finish), .done_o(done), .cycles_o(cycles)
  );

  // ---------------------------------------------------------------- issue
  wire [31:0]   din;
  wire [AW+VW-1:0] ops_rd;
  wire [AW-1:0]    a_q;
  wire [VW-1:0]    v_q;
  wire             issued;   // a_q, v_q hold the pair issued this cycle
  wire             busy, div_done;
  tb_image #(.WIDTH(AW + VW), .WORDS(NDIV), .FILE(OPS_FILE)) u_ops (.addr_i(din), .rd_o(ops_rd));
  // issue only when the divider is free in the next cycle: idle and not starting now,
  // or in its done cycle
  wire hold = gap || issued || (busy && !div_done);
  tb_feed #(.NVEC(NDIV), .WIDTH(AW + VW)) u_feed (
    .clk_i(clk), .rst_ni(rst_n), .gap_i(hold), .idx_o(din), .data_i(ops_rd),
    .valid_o(issued), .data_o({a_q, v_q})
  );

  // while busy, bubble cycles also raise start_i (with other operands): ignored
  wire          noise = (GAPS != 0) && busy && gap;
  wire          start = issued || noise;
  wire [AW-1:0] dividend = issued ? a_q : ~a_q;
  wire [VW-1:0] divisor  = issued ? v_q : ~v_q;

  wire [QW-1:0] quotient;
  wire [VW-1:0] remainder;
  divider #(.DIVISOR_BITS(VW), .QUOTIENT_BITS(QW)) u_dut (
    .clk_i(clk), .rst_ni(rst_n), .start_i(start), .dividend_i(dividend),
    .divisor_i(divisor), .busy_o(busy), .done_o(div_done), .quotient_o(quotient),
    .remainder_o(remainder)
  );

  // ---------------------------------------------------------------- capture
  reg        after_done_q;
  reg [31:0] start_cyc_q;   // cycle in which the last start was taken
  always @(posedge clk or negedge rst_n) begin
    if (!rst_n) begin
      after_done_q <= 1'b0;
      start_cyc_q  <= 32'd0;
    end else begin
      after_done_q <= div_done;
      if (start && !busy) begin
        start_cyc_q <= cyc;
      end
    end
  end
  wire [31:0] latency = cyc - start_cyc_q;

  wire q_full, r_full, qh_full, rh_full, lat_full;
  tb_dump #(.WIDTH(QW), .NVEC(NDIV), .FILE(Q_FILE)) u_q (
    .clk_i(clk), .rst_ni(rst_n), .valid_i(div_done), .data_i(quotient), .done_i(done),
    .full_o(q_full)
  );
  tb_dump #(.WIDTH(VW), .NVEC(NDIV), .FILE(R_FILE)) u_r (
    .clk_i(clk), .rst_ni(rst_n), .valid_i(div_done), .data_i(remainder), .done_i(done),
    .full_o(r_full)
  );
  tb_dump #(.WIDTH(QW), .NVEC(NDIV), .FILE(QH_FILE)) u_qh (
    .clk_i(clk), .rst_ni(rst_n), .valid_i(after_done_q), .data_i(quotient), .done_i(done),
    .full_o(qh_full)
  );
  tb_dump #(.WIDTH(VW), .NVEC(NDIV), .FILE(RH_FILE)) u_rh (
    .clk_i(clk), .rst_ni(rst_n), .valid_i(after_done_q), .data_i(remainder), .done_i(done),
    .full_o(rh_full)
  );
  tb_dump #(.WIDTH(32), .NVEC(NDIV), .FILE(LAT_FILE)) u_lat (
    .clk_i(clk), .rst_ni(rst_n), .valid_i(div_done), .data_i(latency),
    .done_i(done), .full_o(lat_full)
  );
  assign finish = q_full && r_full && qh_full && rh_full && lat_full;

endmodule

// Restoring divider, one quotient bit per cycle: the reciprocal of rtl/softmax.v
// (div_round(2^40, total) = floor((2^41 + total) / (2 total))) and the per-element
// division of rtl/layernorm.v (floor(t / r)) (docs/vit_rtl.md, "divider").
//
//   quotient  = floor(dividend / divisor)         QUOTIENT_BITS bits
//   remainder = dividend - quotient * divisor     DIVISOR_BITS bits, < divisor
//
// Operands, sampled when a start is taken: divisor 1 .. 2^DIVISOR_BITS - 1 and a
// DIVISOR_BITS + QUOTIENT_BITS bit dividend below divisor * 2^QUOTIENT_BITS (so that the
// quotient fits: 0 .. 2^QUOTIENT_BITS - 1; equivalently dividend >> QUOTIENT_BITS <
// divisor).  Other operands (divisor 0, a quotient that does not fit) give unspecified
// but defined results (no x): the callers classify such operands themselves.
//
// Algorithm: the remainder starts as dividend >> QUOTIENT_BITS (< divisor); each of the
// QUOTIENT_BITS steps shifts in the next lower dividend bit:
//   trial = 2 rem + bit      (< 2 divisor: DIVISOR_BITS + 1 bits)
//   q     = trial >= divisor (the next quotient bit, top first)
//   rem   = q ? trial - divisor : trial   (< divisor again)
// One register holds the dividend bits still to shift in (top) and the quotient bits
// found so far (bottom): each step shifts a dividend bit out and a quotient bit in.
//
// Handshake and latency, for a start taken in cycle 0:
//   start_i     taken in a cycle with busy_o low (ignored while busy_o is high)
//   busy_o      high in cycles 1 .. QUOTIENT_BITS, one step each
//   done_o      high in cycle QUOTIENT_BITS, the last step
//   quotient_o, remainder_o   the result from cycle QUOTIENT_BITS (combinational from
//               the last step there, registered after it) up to and including the
//               cycle in which the next start is taken
// so the result can be captured in the done cycle (rtl/layernorm.v) or any later one
// (rtl/softmax.v), and the next start can be given in cycle QUOTIENT_BITS + 1: one
// division every QUOTIENT_BITS + 1 cycles, independent of the operands.
module divider #(
  parameter integer DIVISOR_BITS  = 8,
  parameter integer QUOTIENT_BITS = 8
) (
  input  wire                                  clk_i,
  input  wire                                  rst_ni,
  input  wire                                  start_i,
  input  wire [DIVISOR_BITS+QUOTIENT_BITS-1:0] dividend_i,
  input  wire [DIVISOR_BITS-1:0]               divisor_i,
  output wire                                  busy_o,
  output wire                                  done_o,
  output wire [QUOTIENT_BITS-1:0]              quotient_o,
  output wire [DIVISOR_BITS-1:0]               remainder_o
);

  localparam integer VW     = DIVISOR_BITS;
  localparam integer QW     = QUOTIENT_BITS;
  localparam integer STEP_W = (QW > 1) ? $clog2(QW) : 1;   // counts steps 0 .. QW - 1
  localparam integer LAST_I = QW - 1;
  localparam [STEP_W-1:0] LAST_STEP = LAST_I[STEP_W-1:0];

  reg              busy_q, busy_d;
  reg [STEP_W-1:0] step_q, step_d;        // steps done
  reg [VW-1:0]     divisor_q, divisor_d;
  reg [VW-1:0]     rem_q, rem_d;          // partial remainder, < divisor
  reg [QW-1:0]     bits_q, bits_d;        // dividend bits to shift in | quotient bits

  // ---------------------------------------------------------------- one step
  reg          last_step, q_bit;
  reg [VW:0]   trial;
  /* verilator lint_off UNUSEDSIGNAL */
  reg [VW:0]   diff;       // below divisor when used: the top bit is always 0
  reg [QW:0]   bits_shl;   // the top bit (the dividend bit shifted in) is dropped
  /* verilator lint_on UNUSEDSIGNAL */
  reg [VW-1:0] rem_step;
  reg [QW-1:0] bits_step;
  always @(*) begin
    last_step = busy_q && (step_q == LAST_STEP);
    trial     = {rem_q, bits_q[QW-1]};
    q_bit     = (trial >= {1'b0, divisor_q});
    diff      = trial - {1'b0, divisor_q};
    rem_step  = q_bit ? diff[VW-1:0] : trial[VW-1:0];
    bits_shl  = {bits_q, q_bit};
    bits_step = bits_shl[QW-1:0];
  end

  // ---------------------------------------------------------------- next state
  always @(*) begin
    busy_d    = busy_q;
    step_d    = step_q;
    divisor_d = divisor_q;
    rem_d     = rem_q;
    bits_d    = bits_q;
    if (!busy_q) begin
      if (start_i) begin
        busy_d    = 1'b1;
        step_d    = {STEP_W{1'b0}};
        divisor_d = divisor_i;
        rem_d     = dividend_i[VW+QW-1:QW];
        bits_d    = dividend_i[QW-1:0];
      end
    end else begin
      rem_d  = rem_step;
      bits_d = bits_step;
      step_d = step_q + 1'b1;
      if (last_step) begin
        busy_d = 1'b0;
      end
    end
  end

  always @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      busy_q    <= 1'b0;
      step_q    <= {STEP_W{1'b0}};
      divisor_q <= {VW{1'b0}};
      rem_q     <= {VW{1'b0}};
      bits_q    <= {QW{1'b0}};
    end else begin
      busy_q    <= busy_d;
      step_q    <= step_d;
      divisor_q <= divisor_d;
      rem_q     <= rem_d;
      bits_q    <= bits_d;
    end
  end

  assign busy_o      = busy_q;
  assign done_o      = last_step;
  assign quotient_o  = last_step ? bits_step : bits_q;
  assign remainder_o = last_step ? rem_step : rem_q;

endmodule

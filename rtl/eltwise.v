// Element-wise unit: residual/standalone add, the per-input rescale of a concat, and
// standalone ReLU, LANES elements per cycle.  Per lane, one formula:
//
//   y = clip((((a - za) * ma + (b - zb) * mb + (1 << (s - 1))) >>> s) + zy, qmin, qmax)
//
// with `>>>` an arithmetic (floor) shift and clip(x, lo, hi) = min(max(x, lo), hi)
// (numpy.clip order): t2c.arith.requantize_sum([(a - za) * ma, (b - zb) * mb], s, zy,
// qmin, qmax), one shift and one rounding for the sum (arithmetic contract v1).  The
// three IR ops are parameter choices (t2c/sim/units/eltwise.py sets them):
//
//   add      (t2c.ref._add)      a, za = input, a_zero_point;  b, zb = residual,
//                                residual_zero_point;  ma = m, mb = residual_m, s, zy, qmin, qmax
//   concat   (t2c.ref._concat)   each part alone: a = x_i, za = z_i, ma = m_i, s = s_i,
//                                mb = 0 (b ignored): t2c.arith.requantize(x_i - z_i, m_i, s_i,
//                                zy, qmin, qmax); the concatenation itself is data movement
//   relu     (t2c.ref._relu)     a = x, za = 0, ma = 2, s = 1, mb = 0, zy = 0, qmin = zero_point,
//                                qmax = qmax: (2x + 1) >>> 1 = x for every integer x, so
//                                y = clip(x, zero_point, qmax) exactly
//
// The products and the rounding are rtl/requant.v (LANES lanes, ACCW = IN_BITS + 2, its
// addend port ADD_BITS = IN_BITS + MULT_BITS + 1 carrying (b - zb) * mb).
//
// Operands (per lane, packed lane 0 at the LSBs of each bus, all sampled with valid_i, so
// per-element and per-channel parameters stream with the data: one build serves every
// layer whose codes fit IN_BITS / OUT_BITS):
//   a, b, za, zb   signed IN_BITS + 1 bits: hold every int and uint IN_BITS code; every
//                  value of the port is exact (a - za, b - zb: IN_BITS + 2 bits).
//   ma, mb         MULT_BITS-bit fields holding m in [0, 2^(MULT_BITS-1)) (quantize_multiplier
//                  range); the MSB is ignored, as in rtl/requant.v.
//   s              SHIFT_BITS-bit unsigned shift.  Contract 1..62; every s of 1 ..
//                  2^SHIFT_BITS - 1 is exact w.r.t. the formula (a shift at least the sum's
//                  width gives 0, which the formula gives too); s = 0 is outside the
//                  contract and gives clip((a - za) ma + (b - zb) mb + zy, qmin, qmax)
//                  (rtl/requant.v's documented s = 0).
//   zy, qmin, qmax signed OUT_BITS + 1 bits (every int and uint OUT_BITS range).
//   y              signed OUT_BITS + 1 bits, the clipped value; with qmin, qmax a code
//                  range of OUT_BITS bits its low OUT_BITS bits are the output code.
// Widths: |(b - zb) mb| < 2^(IN_BITS+1) 2^(MULT_BITS-1): ADD_BITS = IN_BITS + MULT_BITS + 1;
//   |(a - za) ma| < 2^(IN_BITS+MULT_BITS): rtl/requant.v's PRODW = IN_BITS + MULT_BITS + 1;
//   their sum: VALW = IN_BITS + MULT_BITS + 2 (42 for 8-bit codes, 32-bit multipliers).
//
// Pipeline: one vector of LANES elements per cycle, no back-pressure, LATENCY = 5:
//   stage 0 (here): da = a - za,  pb = (b - zb) * mb         (registered with the parameters)
//   stages 1-4 (rtl/requant.v): the partial products of da * ma, their sum + pb,
//   >>> (s-1), + 2 zy + 1 >>> 1 and clip
//   valid_o rises 5 cycles after the valid_i it belongs to; y_o holds the last result while
//   valid_o is low.  A stream of V vectors without bubbles: V + 5 cycles from the first
//   valid_i to the last valid_o.
module eltwise #(
  parameter integer LANES      = 1,
  parameter integer IN_BITS    = 8,
  parameter integer OUT_BITS   = 8,
  parameter integer MULT_BITS  = 32,
  parameter integer SHIFT_BITS = 6
) (
  input  wire                          clk_i,
  input  wire                          rst_ni,
  input  wire                          valid_i,
  input  wire [LANES*(IN_BITS+1)-1:0]  a_i,
  input  wire [LANES*(IN_BITS+1)-1:0]  b_i,
  input  wire [LANES*(IN_BITS+1)-1:0]  za_i,
  input  wire [LANES*(IN_BITS+1)-1:0]  zb_i,
  input  wire [LANES*MULT_BITS-1:0]    ma_i,   // bit MULT_BITS-1 of each lane ignored (requant)
  /* verilator lint_off UNUSEDSIGNAL */
  input  wire [LANES*MULT_BITS-1:0]    mb_i,   // bit MULT_BITS-1 of each lane ignored
  /* verilator lint_on UNUSEDSIGNAL */
  input  wire [LANES*SHIFT_BITS-1:0]   s_i,
  input  wire [LANES*(OUT_BITS+1)-1:0] zy_i,
  input  wire [LANES*(OUT_BITS+1)-1:0] qmin_i,
  input  wire [LANES*(OUT_BITS+1)-1:0] qmax_i,
  output wire                          valid_o,
  output wire [LANES*(OUT_BITS+1)-1:0] y_o
);

  localparam integer XW   = IN_BITS + 1;              // codes and zero points
  localparam integer DW   = IN_BITS + 2;              // a - za, b - zb
  localparam integer MW   = MULT_BITS - 1;            // magnitude bits of m
  localparam integer ADDW = IN_BITS + MULT_BITS + 1;  // (b - zb) * mb
  localparam integer QW   = OUT_BITS + 1;

  reg v0_q;
  always @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      v0_q <= 1'b0;
    end else begin
      v0_q <= valid_i;
    end
  end

  // ---------------------------------------------------------------- stage 0, per lane
  wire [LANES*DW-1:0]         da_bus;
  wire [LANES*ADDW-1:0]       pb_bus;
  wire [LANES*MULT_BITS-1:0]  ma_bus;
  wire [LANES*SHIFT_BITS-1:0] s_bus;
  wire [LANES*QW-1:0]         zy_bus, qmin_bus, qmax_bus;
  genvar g;
  generate
    for (g = 0; g < LANES; g = g + 1) begin : g_lane
      reg signed [DW-1:0]   da, db;
      reg signed [ADDW-1:0] pb;
      always @(*) begin
        da = $signed({a_i[g*XW + XW-1], a_i[g*XW +: XW]})
           - $signed({za_i[g*XW + XW-1], za_i[g*XW +: XW]});
        db = $signed({b_i[g*XW + XW-1], b_i[g*XW +: XW]})
           - $signed({zb_i[g*XW + XW-1], zb_i[g*XW +: XW]});
        pb = $signed({{(ADDW-DW){db[DW-1]}}, db})
           * $signed({{(ADDW-MW){1'b0}}, mb_i[g*MULT_BITS +: MW]});
      end

      reg [DW-1:0]         da_q;
      reg [ADDW-1:0]       pb_q;
      reg [MULT_BITS-1:0]  ma_q;
      reg [SHIFT_BITS-1:0] s_q;
      reg [QW-1:0]         zy_q, qmin_q, qmax_q;
      always @(posedge clk_i or negedge rst_ni) begin
        if (!rst_ni) begin
          da_q   <= {DW{1'b0}};
          pb_q   <= {ADDW{1'b0}};
          ma_q   <= {MULT_BITS{1'b0}};
          s_q    <= {SHIFT_BITS{1'b0}};
          zy_q   <= {QW{1'b0}};
          qmin_q <= {QW{1'b0}};
          qmax_q <= {QW{1'b0}};
        end else if (valid_i) begin
          da_q   <= da;
          pb_q   <= pb;
          ma_q   <= ma_i[g*MULT_BITS +: MULT_BITS];
          s_q    <= s_i[g*SHIFT_BITS +: SHIFT_BITS];
          zy_q   <= zy_i[g*QW +: QW];
          qmin_q <= qmin_i[g*QW +: QW];
          qmax_q <= qmax_i[g*QW +: QW];
        end
      end
      assign da_bus[g*DW +: DW]                 = da_q;
      assign pb_bus[g*ADDW +: ADDW]             = pb_q;
      assign ma_bus[g*MULT_BITS +: MULT_BITS]   = ma_q;
      assign s_bus[g*SHIFT_BITS +: SHIFT_BITS]  = s_q;
      assign zy_bus[g*QW +: QW]                 = zy_q;
      assign qmin_bus[g*QW +: QW]               = qmin_q;
      assign qmax_bus[g*QW +: QW]               = qmax_q;
    end
  endgenerate

  // ---------------------------------------------------------------- stages 1-4
  requant #(
    .LANES(LANES), .ACCW(DW), .MULT_BITS(MULT_BITS), .SHIFT_BITS(SHIFT_BITS), .OUTW(QW),
    .ADD_BITS(ADDW)
  ) u_rq (
    .clk_i(clk_i), .rst_ni(rst_ni), .valid_i(v0_q), .acc_i(da_bus), .m_i(ma_bus), .s_i(s_bus),
    .zp_i(zy_bus), .qmin_i(qmin_bus), .qmax_i(qmax_bus), .add_i(pb_bus),
    .valid_o(valid_o), .y_o(y_o)
  );

endmodule

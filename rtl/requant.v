// Requantizer: LANES int32 accumulators in, LANES clamped output codes out.
//
// Per lane, exactly t2c.arith.requantize (arithmetic contract v1):
//
//   y = clip(((acc * m + (1 << (s - 1))) >>> s) + zp, qmin, qmax)
//
// with `>>>` an arithmetic (floor) shift and clip(x, lo, hi) = min(max(x, lo), hi)
// (numpy.clip order).  ReLU is qmin = zp.
//
// Operands (all per lane, packed lane 0 at the LSBs of each bus):
//   acc   ACCW-bit two's complement.
//   m     MULT_BITS-bit field holding m in [0, 2^(MULT_BITS-1)) as produced by
//         t2c.arith.quantize_multiplier(real, bits=MULT_BITS); its MSB must be 0
//         and is ignored, so the product needs ACCW+MULT_BITS-1 bits, not one more.
//   s     SHIFT_BITS-bit unsigned right shift.  Contract range 1..62 for both
//         MULT_BITS 32 and 16 (quantize_multiplier returns 1 <= s <= MAX_SHIFT = 62).
//         All of 1..2^SHIFT_BITS-1 is exact w.r.t. the formula: a shift of at
//         least PRODW (= ACCW+MULT_BITS-1) gives 0, which is what the formula gives
//         because |acc*m| < 2^(PRODW-1) <= 2^(s-1).  s = 0 is outside the contract
//         (the formula has no rounding term then); the hardware returns acc*m + zp.
//   zp, qmin, qmax, y   OUTW-bit two's complement (OUTW = 9 holds every int8 and
//         uint8 range; the default 16 also serves int16-range rescales).
//
// Optional addend (ADD_BITS > 0; residual add, t2c.arith.requantize_sum): a signed
// ADD_BITS-bit add_i per lane joins the product before the single rounding,
//
//   y = clip(((acc * m + add + (1 << (s - 1))) >>> s) + zp, qmin, qmax)
//
// e.g. add = (r - zr) * m_r for a fused residual.  The sum gets one more bit (VALW =
// max(PRODW, ADD_BITS) + 1 instead of PRODW) and a shift of at least VALW gives 0.
// With ADD_BITS = 0 (the default) add_i is ignored (tie it to 0) and the unit is
// exactly the one described above.
//
// Pipeline: 4 register stages, one vector per cycle, no back-pressure.
//   stage 1: the partial products of acc * m    (four 18 x 18 multiplies, DSP blocks)
//   stage 2: prod  = acc * m [+ add]                (VALW bits, signed)
//   stage 3: q     = prod >>> (s-1)   (2*prod if s = 0; QW = VALW+1 bits)
//   stage 4: y     = clip((q + 2*zp + 1) >>> 1, qmin, qmax)   (OUTW bits, signed; the
//            clamp from comparisons of q with thresholds computed in stage 3)
// which is the formula: (prod + 2^(s-1)) >>> s = (q + 1) >>> 1.  Each stage is one
// kind of work, for FPGA timing: the DSP blocks' products end at flip-flops, the sum of
// the partial products (two adder levels) has its own stage, and the rounding add comes
// after the shift so the barrel shifter is alone in its stage.
//   valid_o rises LATENCY = 4 cycles after the valid_i it belongs to.
// ACCW up to 34 bits (acc splits into a signed high and an unsigned 17-bit low part).
// Each stage loads only when its valid bit is set, so y_o holds the last result.
module requant #(
  parameter integer LANES      = 8,
  parameter integer ACCW       = 32,
  parameter integer MULT_BITS  = 32,
  parameter integer SHIFT_BITS = 6,
  parameter integer OUTW       = 16,
  parameter integer ADD_BITS   = 0,   // addend width (signed); 0: no addend
  // Width of each add_i lane; derived, do not override.
  parameter integer ADDW_P     = (ADD_BITS > 0) ? ADD_BITS : 1
) (
  input  wire                        clk_i,
  input  wire                        rst_ni,
  input  wire                        valid_i,
  input  wire [LANES*ACCW-1:0]       acc_i,
  /* verilator lint_off UNUSEDSIGNAL */
  input  wire [LANES*MULT_BITS-1:0]  m_i,     // bit MULT_BITS-1 of each lane ignored
  /* verilator lint_on UNUSEDSIGNAL */
  input  wire [LANES*SHIFT_BITS-1:0] s_i,
  input  wire [LANES*OUTW-1:0]       zp_i,
  input  wire [LANES*OUTW-1:0]       qmin_i,
  input  wire [LANES*OUTW-1:0]       qmax_i,
  /* verilator lint_off UNUSEDSIGNAL */
  input  wire [LANES*ADDW_P-1:0]     add_i,   // ignored when ADD_BITS = 0
  /* verilator lint_on UNUSEDSIGNAL */
  output wire                        valid_o,
  output wire [LANES*OUTW-1:0]       y_o
);

  // Magnitude bits of m (its MSB is ignored, m >= 0 by contract).
  localparam integer MW    = MULT_BITS - 1;
  // |acc * m| <= 2^(ACCW-1) * (2^MW - 1) < 2^(ACCW+MW-1): fits PRODW signed bits.
  localparam integer PRODW = ACCW + MW;
  // acc * m + add: one more bit than the wider term (no addend: PRODW).
  localparam integer VALW  = (ADD_BITS > 0) ? ((ADD_BITS > PRODW) ? ADD_BITS : PRODW) + 1 : PRODW;
  // q = prod >>> (s-1), or 2*prod for s = 0: one more bit.
  localparam integer QW    = VALW + 1;
  // Partial products: an operand that does not fit 18 signed bits splits at bit LO.
  localparam integer LO      = 17;
  localparam integer SPLIT_A = (ACCW > LO) ? 1 : 0;
  localparam integer SPLIT_M = (MW > LO) ? 1 : 0;

  // ---------------------------------------------------------------- valid pipeline
  reg v1_q, v2_q, v3_q, v4_q;
  always @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      v1_q <= 1'b0;
      v2_q <= 1'b0;
      v3_q <= 1'b0;
      v4_q <= 1'b0;
    end else begin
      v1_q <= valid_i;
      v2_q <= v1_q;
      v3_q <= v2_q;
      v4_q <= v3_q;
    end
  end
  assign valid_o = v4_q;

  // ---------------------------------------------------------------- lanes
  // Combinational logic is written as always @(*) blocks rather than chains of
  // continuous assignments: same netlist, but Icarus simulates it ~4x faster.
  genvar g;
  generate
    for (g = 0; g < LANES; g = g + 1) begin : g_lane
      // stage 1: the partial products of acc * m, each one 18 x 18 signed multiply (one
      // DSP block), registered: acc = a1 * 2^17 + a0 and m = m1 * 2^17 + m0 with a0, m0
      // the low 17 bits (unsigned) when the operand does not fit 18 signed bits, else the
      // operand itself and a1 = 0 / m1 = 0.  (Ports are sliced inside the blocks: extra
      // slice wires cost Icarus ~2x.)
      wire signed [17:0] a0, a1, m0, m1;
      if (SPLIT_A != 0) begin : g_asplit
        assign a0 = {1'b0, acc_i[g*ACCW +: LO]};
        assign a1 = {{(18-ACCW+LO){acc_i[g*ACCW + ACCW-1]}}, acc_i[g*ACCW+LO +: ACCW-LO]};
      end else begin : g_awhole
        assign a0 = {{(18-ACCW){acc_i[g*ACCW + ACCW-1]}}, acc_i[g*ACCW +: ACCW]};
        assign a1 = 18'sd0;
      end
      if (SPLIT_M != 0) begin : g_msplit
        assign m0 = {1'b0, m_i[g*MULT_BITS +: LO]};
        assign m1 = {{(18-MW+LO){1'b0}}, m_i[g*MULT_BITS+LO +: MW-LO]};
      end else begin : g_mwhole
        assign m0 = {{(18-MW){1'b0}}, m_i[g*MULT_BITS +: MW]};
        assign m1 = 18'sd0;
      end

      /* verilator lint_off UNUSEDSIGNAL */  // the products fit fewer bits than 36
      reg signed [35:0]           p00_q, p01_q, p10_q, p11_q;
      /* verilator lint_on UNUSEDSIGNAL */
      reg signed [ADDW_P-1:0]     add1_q;
      reg        [SHIFT_BITS-1:0] s0_q;
      reg        [OUTW-1:0]       zp0_q, qmin0_q, qmax0_q;
      always @(posedge clk_i or negedge rst_ni) begin
        if (!rst_ni) begin
          p00_q   <= 36'sd0;
          p01_q   <= 36'sd0;
          p10_q   <= 36'sd0;
          p11_q   <= 36'sd0;
          add1_q  <= {ADDW_P{1'b0}};
          s0_q    <= {SHIFT_BITS{1'b0}};
          zp0_q   <= {OUTW{1'b0}};
          qmin0_q <= {OUTW{1'b0}};
          qmax0_q <= {OUTW{1'b0}};
        end else if (valid_i) begin
          p00_q   <= a0 * m0;
          p01_q   <= a0 * m1;
          p10_q   <= a1 * m0;
          p11_q   <= a1 * m1;
          add1_q  <= (ADD_BITS > 0) ? add_i[g*ADDW_P +: ADDW_P] : {ADDW_P{1'b0}};
          s0_q    <= s_i[g*SHIFT_BITS +: SHIFT_BITS];
          zp0_q   <= zp_i[g*OUTW +: OUTW];
          qmin0_q <= qmin_i[g*OUTW +: OUTW];
          qmax0_q <= qmax_i[g*OUTW +: OUTW];
        end
      end

      // stage 2: prod = p11 * 2^34 + (p01 + p10) * 2^17 + p00 [+ add], exact in VALW
      // bits, in two adder levels: with both operands split, p00 is in [0, 2^34) and
      // p11 * 2^34 + p00 is a concatenation.
      // (the partial products are sign-extended, or truncated where they fit, to VALW
      // bits by the assignments)
      reg signed [VALW-1:0] hl, mid, prod;
      /* verilator lint_off WIDTHEXPAND */
      /* verilator lint_off WIDTHTRUNC */
      always @(*) begin
        mid  = p01_q;
        mid  = (mid + p10_q) <<< LO;
        prod = hl + $signed({{(VALW-ADDW_P){add1_q[ADDW_P-1]}}, add1_q}) + mid;
      end
      if ((SPLIT_A != 0) && (SPLIT_M != 0)) begin : g_concat
        always @(*) hl = {p11_q[VALW-2*LO-1:0], p00_q[2*LO-1:0]};
      end else begin : g_p00  // p11 = 0
        always @(*) hl = p00_q;
      end
      /* verilator lint_on WIDTHTRUNC */
      /* verilator lint_on WIDTHEXPAND */

      reg signed [VALW-1:0]       prod_q;
      reg        [SHIFT_BITS-1:0] s1_q;
      reg        [OUTW-1:0]       zp1_q, qmin1_q, qmax1_q;
      always @(posedge clk_i or negedge rst_ni) begin
        if (!rst_ni) begin
          prod_q  <= {VALW{1'b0}};
          s1_q    <= {SHIFT_BITS{1'b0}};
          zp1_q   <= {OUTW{1'b0}};
          qmin1_q <= {OUTW{1'b0}};
          qmax1_q <= {OUTW{1'b0}};
        end else if (v1_q) begin
          prod_q  <= prod;
          s1_q    <= s0_q;
          zp1_q   <= zp0_q;
          qmin1_q <= qmin0_q;
          qmax1_q <= qmax0_q;
        end
      end

      // stage 3: the barrel shift alone.  (prod + 2^(s-1)) >>> s equals
      // (q + 1) >>> 1 with q = prod >>> (s-1) (floor(floor(y)/2) = floor(y/2)), so the
      // rounding add moves after the shift, into stage 4.  s = 0 (no rounding term)
      // takes q = 2*prod, for which (q + 1) >>> 1 = prod.  A shift of s-1 >= VALW-1
      // leaves q = 0 or -1, and (q + 1) >>> 1 = 0: the formula's 0, no special case.
      reg signed [QW-1:0] pw, q;
      always @(*) begin
        pw = $signed({prod_q[VALW-1], prod_q});
        if (s1_q == {SHIFT_BITS{1'b0}}) begin
          q = pw <<< 1;
        end else begin
          q = pw >>> (s1_q - 1'b1);  // signed operand, signed target: arithmetic
        end
      end

      // the clamp's thresholds on q (stage 4): with v = q + 2*zp + 1 and x = v >>> 1,
      // x < qmin <=> v < 2*qmin <=> q < 2*qmin - 2*zp - 1, and
      // x > qmax <=> v >= 2*qmax + 2 <=> q > 2*qmax - 2*zp
      reg signed [OUTW+1:0] tlo, thi;
      always @(*) begin
        tlo = ($signed({qmin1_q[OUTW-1], qmin1_q, 1'b0}) - $signed({zp1_q[OUTW-1], zp1_q, 1'b0})) - 1'sb1;
        thi = $signed({qmax1_q[OUTW-1], qmax1_q, 1'b0}) - $signed({zp1_q[OUTW-1], zp1_q, 1'b0});
      end

      reg signed [QW-1:0]   q_q;
      reg        [OUTW:0]   zp2_q;   // 2*zp + 1
      reg        [OUTW-1:0] qmin2_q, qmax2_q;
      reg signed [OUTW+1:0] tlo_q, thi_q;
      reg                   inv_q;   // qmin > qmax: numpy.clip gives qmax
      always @(posedge clk_i or negedge rst_ni) begin
        if (!rst_ni) begin
          q_q     <= {QW{1'b0}};
          zp2_q   <= {(OUTW+1){1'b0}};
          qmin2_q <= {OUTW{1'b0}};
          qmax2_q <= {OUTW{1'b0}};
          tlo_q   <= {(OUTW+2){1'b0}};
          thi_q   <= {(OUTW+2){1'b0}};
          inv_q   <= 1'b0;
        end else if (v2_q) begin
          q_q     <= q;
          zp2_q   <= {zp1_q, 1'b1};
          qmin2_q <= qmin1_q;
          qmax2_q <= qmax1_q;
          tlo_q   <= tlo;
          thi_q   <= thi;
          inv_q   <= $signed(qmin1_q) > $signed(qmax1_q);
        end
      end

      // stage 4: the clamp, max with qmin first, then min with qmax (numpy.clip), from
      // two comparisons of q against the thresholds, in parallel with the add
      // t + zp = ((q + 1) >>> 1) + zp = (q + 2*zp + 1) >>> 1 (2*zp is even), which is
      // only needed (and so only computed) in OUTW + 1 bits: the result is in
      // [qmin, qmax] when it is chosen.
      reg            below, above;
      /* verilator lint_off UNUSEDSIGNAL */
      reg [OUTW:0]   v;   // the low OUTW + 1 bits of q + 2*zp + 1; bit 0 is shifted out
      /* verilator lint_on UNUSEDSIGNAL */
      reg [OUTW-1:0] y;
      /* verilator lint_off WIDTHEXPAND */
      always @(*) begin
        below = q_q < tlo_q;   // both signed: sign-extended to the wider
        above = q_q > thi_q;
        v     = q_q[OUTW:0] + zp2_q;
        y     = below ? (inv_q ? qmax2_q : qmin2_q) : (above ? qmax2_q : v[OUTW:1]);
      end
      /* verilator lint_on WIDTHEXPAND */

      reg [OUTW-1:0] y_q;
      always @(posedge clk_i or negedge rst_ni) begin
        if (!rst_ni) begin
          y_q <= {OUTW{1'b0}};
        end else if (v3_q) begin
          y_q <= y;
        end
      end
      assign y_o[g*OUTW +: OUTW] = y_q;
    end
  endgenerate

endmodule

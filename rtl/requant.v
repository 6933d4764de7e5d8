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
// Pipeline: 3 register stages, one vector per cycle, no back-pressure.
//   stage 1: prod  = acc * m [+ add]              (VALW bits, signed)
//   stage 2: t     = (prod + 2^(s-1)) >>> s       (SUMW  bits, signed)
//   stage 3: y     = clip(t + zp, qmin, qmax)     (OUTW  bits, signed)
//   valid_o rises LATENCY = 3 cycles after the valid_i it belongs to.
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
  // prod + 2^(s-1) with s <= VALW-1 needs one more bit.
  localparam integer SUMW  = VALW + 1;
  localparam integer RIXW  = $clog2(SUMW);  // bit index into a SUMW-bit vector
  // t + zp: one more bit again, so the clip compares exact values.
  localparam integer CLPW  = SUMW + 1;

  // ---------------------------------------------------------------- valid pipeline
  reg v1_q, v2_q, v3_q;
  always @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      v1_q <= 1'b0;
      v2_q <= 1'b0;
      v3_q <= 1'b0;
    end else begin
      v1_q <= valid_i;
      v2_q <= v1_q;
      v3_q <= v2_q;
    end
  end
  assign valid_o = v3_q;

  // ---------------------------------------------------------------- lanes
  // Combinational logic is written as always @(*) blocks rather than chains of
  // continuous assignments: same netlist, but Icarus simulates it ~4x faster.
  genvar g;
  generate
    for (g = 0; g < LANES; g = g + 1) begin : g_lane
      // stage 1: exact product (plus addend); operands widened to VALW explicitly.
      // (Ports are sliced inside the block: extra slice wires cost Icarus ~2x.)
      reg signed [VALW-1:0] prod;
      always @(*) begin
        prod = $signed({{(VALW-ACCW){acc_i[g*ACCW + ACCW-1]}}, acc_i[g*ACCW +: ACCW]})
             * $signed({{(VALW-MW){1'b0}}, m_i[g*MULT_BITS +: MW]});
        if (ADD_BITS > 0) begin
          prod = prod + $signed({{(VALW-ADDW_P){add_i[g*ADDW_P + ADDW_P-1]}},
                                 add_i[g*ADDW_P +: ADDW_P]});
        end
      end

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
        end else if (valid_i) begin
          prod_q  <= prod;
          s1_q    <= s_i[g*SHIFT_BITS +: SHIFT_BITS];
          zp1_q   <= zp_i[g*OUTW +: OUTW];
          qmin1_q <= qmin_i[g*OUTW +: OUTW];
          qmax1_q <= qmax_i[g*OUTW +: OUTW];
        end
      end

      // stage 2: add the rounding term 2^(s-1) (none for s = 0), arithmetic shift.
      // A shift >= VALW gives exactly 0 (|prod| < 2^(VALW-1) <= 2^(s-1)).
      reg        [SUMW-1:0] rnd;
      reg signed [SUMW-1:0] sum, shifted, t;
      /* verilator lint_off UNUSEDSIGNAL */
      reg        [31:0]     sm1;  // s - 1; its low RIXW bits index rnd
      /* verilator lint_on UNUSEDSIGNAL */
      always @(*) begin
        rnd = {SUMW{1'b0}};
        sm1 = {{(32-SHIFT_BITS){1'b0}}, s1_q} - 32'd1;
        if (s1_q != {SHIFT_BITS{1'b0}}) begin
          rnd[sm1[RIXW-1:0]] = 1'b1;  // out of range (s > SUMW) only when t is 0 anyway
        end
        sum = $signed({prod_q[VALW-1], prod_q}) + $signed(rnd);
        shifted = sum >>> s1_q;  // signed operand, signed target: arithmetic
        t = ({{(32-SHIFT_BITS){1'b0}}, s1_q} >= VALW) ? {SUMW{1'b0}} : shifted;
      end

      reg signed [SUMW-1:0] t_q;
      reg        [OUTW-1:0] zp2_q, qmin2_q, qmax2_q;
      always @(posedge clk_i or negedge rst_ni) begin
        if (!rst_ni) begin
          t_q     <= {SUMW{1'b0}};
          zp2_q   <= {OUTW{1'b0}};
          qmin2_q <= {OUTW{1'b0}};
          qmax2_q <= {OUTW{1'b0}};
        end else if (v1_q) begin
          t_q     <= t;
          zp2_q   <= zp1_q;
          qmin2_q <= qmin1_q;
          qmax2_q <= qmax1_q;
        end
      end

      // stage 3: add the zero point, clamp: max with qmin first, then min with qmax.
      reg signed [CLPW-1:0] x, lo, hi;
      /* verilator lint_off UNUSEDSIGNAL */
      reg signed [CLPW-1:0] y;  // in [qmin, qmax]: fits OUTW
      /* verilator lint_on UNUSEDSIGNAL */
      always @(*) begin
        x  = $signed({t_q[SUMW-1], t_q}) + $signed({{(CLPW-OUTW){zp2_q[OUTW-1]}}, zp2_q});
        lo = $signed({{(CLPW-OUTW){qmin2_q[OUTW-1]}}, qmin2_q});
        hi = $signed({{(CLPW-OUTW){qmax2_q[OUTW-1]}}, qmax2_q});
        y  = (x < lo) ? lo : x;
        y  = (y > hi) ? hi : y;
      end

      reg [OUTW-1:0] y_q;
      always @(posedge clk_i or negedge rst_ni) begin
        if (!rst_ni) begin
          y_q <= {OUTW{1'b0}};
        end else if (v2_q) begin
          y_q <= y[OUTW-1:0];
        end
      end
      assign y_o[g*OUTW +: OUTW] = y_q;
    end
  endgenerate

endmodule

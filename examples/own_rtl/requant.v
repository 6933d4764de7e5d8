// An example of "your own RTL in t2c's testbenches": a requantizer with another
// microarchitecture, the same module name, ports, parameters and latency as t2c's
// rtl/requant.v, so that `T2C_RTL_DIR=examples/own_rtl` runs it in every test and
// co-simulation that uses a requantizer (the unit test sim/test_requant.py and the layer
// engine), unchanged (docs/testbench.md, "Verify your own accelerator").
//
// Same contract:  y = clip(((acc * m [+ add] + 2^(s-1)) >>> s) + zp, qmin, qmax)
//
// Different datapath: the product acc * m is formed from two partial products with
// 16-bit pieces of m (what a design mapping the multiply onto 18x18 DSP blocks does),
//   acc * m = ((acc * m_hi) << 16) + acc * m_lo,   m_lo = m[15:0], m_hi = m[MW-1:16],
// and the pipeline is split differently: stage 1 registers the partial products,
// stage 2 adds them, the addend and the rounding term and shifts, stage 3 clamps,
// stage 4 is an output register.  Latency 4, one vector per cycle, like t2c's (the
// latency is part of the contract: the layer engine writes the output 4 cycles later).
module requant #(
  parameter integer LANES      = 8,
  parameter integer ACCW       = 32,
  parameter integer MULT_BITS  = 32,
  parameter integer SHIFT_BITS = 6,
  parameter integer OUTW       = 16,
  parameter integer ADD_BITS   = 0,
  parameter integer ADDW_P     = (ADD_BITS > 0) ? ADD_BITS : 1
) (
  input  wire                        clk_i,
  input  wire                        rst_ni,
  input  wire                        valid_i,
  input  wire [LANES*ACCW-1:0]       acc_i,
  /* verilator lint_off UNUSEDSIGNAL */
  input  wire [LANES*MULT_BITS-1:0]  m_i,
  /* verilator lint_on UNUSEDSIGNAL */
  input  wire [LANES*SHIFT_BITS-1:0] s_i,
  input  wire [LANES*OUTW-1:0]       zp_i,
  input  wire [LANES*OUTW-1:0]       qmin_i,
  input  wire [LANES*OUTW-1:0]       qmax_i,
  /* verilator lint_off UNUSEDSIGNAL */
  input  wire [LANES*ADDW_P-1:0]     add_i,
  /* verilator lint_on UNUSEDSIGNAL */
  output wire                        valid_o,
  output wire [LANES*OUTW-1:0]       y_o
);

  localparam integer MW    = MULT_BITS - 1;                 // magnitude bits of m
  localparam integer LOW   = (MW < 16) ? MW : 16;           // bits in m_lo
  localparam integer HIGH  = (MW > 16) ? MW - 16 : 1;       // bits in m_hi (1: unused, 0)
  localparam integer PRODW = ACCW + MW;
  localparam integer VALW  = (ADD_BITS > 0) ? ((ADD_BITS > PRODW) ? ADD_BITS : PRODW) + 1 : PRODW;
  localparam integer SUMW  = VALW + 1;
  localparam integer RIXW  = $clog2(SUMW);
  localparam integer CLPW  = SUMW + 1;

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

  genvar g;
  generate
    for (g = 0; g < LANES; g = g + 1) begin : g_lane
      // stage 1: the two partial products
      reg signed [VALW-1:0] p_lo, p_hi, addend;
      always @(*) begin
        p_lo = $signed({{(VALW-ACCW){acc_i[g*ACCW + ACCW-1]}}, acc_i[g*ACCW +: ACCW]})
             * $signed({{(VALW-LOW){1'b0}}, m_i[g*MULT_BITS +: LOW]});
        p_hi = {VALW{1'b0}};
        if (MW > 16) begin
          p_hi = $signed({{(VALW-ACCW){acc_i[g*ACCW + ACCW-1]}}, acc_i[g*ACCW +: ACCW]})
               * $signed({{(VALW-HIGH){1'b0}}, m_i[g*MULT_BITS + LOW +: HIGH]});
        end
        addend = {VALW{1'b0}};
        if (ADD_BITS > 0) begin
          addend = $signed({{(VALW-ADDW_P){add_i[g*ADDW_P + ADDW_P-1]}}, add_i[g*ADDW_P +: ADDW_P]});
        end
      end

      reg signed [VALW-1:0]       lo_q, hi_q, add_q;
      reg        [SHIFT_BITS-1:0] s1_q;
      reg        [OUTW-1:0]       zp1_q, qmin1_q, qmax1_q;
      always @(posedge clk_i or negedge rst_ni) begin
        if (!rst_ni) begin
          lo_q    <= {VALW{1'b0}};
          hi_q    <= {VALW{1'b0}};
          add_q   <= {VALW{1'b0}};
          s1_q    <= {SHIFT_BITS{1'b0}};
          zp1_q   <= {OUTW{1'b0}};
          qmin1_q <= {OUTW{1'b0}};
          qmax1_q <= {OUTW{1'b0}};
        end else if (valid_i) begin
          lo_q    <= p_lo;
          hi_q    <= p_hi;
          add_q   <= addend;
          s1_q    <= s_i[g*SHIFT_BITS +: SHIFT_BITS];
          zp1_q   <= zp_i[g*OUTW +: OUTW];
          qmin1_q <= qmin_i[g*OUTW +: OUTW];
          qmax1_q <= qmax_i[g*OUTW +: OUTW];
        end
      end

      // stage 2: combine, round, shift
      reg        [SUMW-1:0] rnd;
      reg signed [SUMW-1:0] sum, shifted, t;
      /* verilator lint_off UNUSEDSIGNAL */
      reg        [31:0]     sm1;
      /* verilator lint_on UNUSEDSIGNAL */
      always @(*) begin
        rnd = {SUMW{1'b0}};
        sm1 = {{(32-SHIFT_BITS){1'b0}}, s1_q} - 32'd1;
        if (s1_q != {SHIFT_BITS{1'b0}}) begin
          rnd[sm1[RIXW-1:0]] = 1'b1;
        end
        sum = ($signed({hi_q[VALW-1], hi_q}) <<< 16) + $signed({lo_q[VALW-1], lo_q})
            + $signed({add_q[VALW-1], add_q}) + $signed(rnd);
        shifted = sum >>> s1_q;
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

      // stage 3: zero point and clamp
      reg signed [CLPW-1:0] x, lo, hi;
      /* verilator lint_off UNUSEDSIGNAL */
      reg signed [CLPW-1:0] y;
      /* verilator lint_on UNUSEDSIGNAL */
      always @(*) begin
        x  = $signed({t_q[SUMW-1], t_q}) + $signed({{(CLPW-OUTW){zp2_q[OUTW-1]}}, zp2_q});
        lo = $signed({{(CLPW-OUTW){qmin2_q[OUTW-1]}}, qmin2_q});
        hi = $signed({{(CLPW-OUTW){qmax2_q[OUTW-1]}}, qmax2_q});
        y  = (x < lo) ? lo : x;
        y  = (y > hi) ? hi : y;
      end

      reg [OUTW-1:0] y_q, y2_q;
      always @(posedge clk_i or negedge rst_ni) begin
        if (!rst_ni) begin
          y_q  <= {OUTW{1'b0}};
          y2_q <= {OUTW{1'b0}};
        end else begin
          if (v2_q) begin
            y_q <= y[OUTW-1:0];
          end
          if (v3_q) begin  // stage 4: output register
            y2_q <= y_q;
          end
        end
      end
      assign y_o[g*OUTW +: OUTW] = y2_q;
    end
  endgenerate

endmodule

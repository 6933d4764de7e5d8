// LUT unit: a 2^IN_BITS-entry table loaded with $readmemh, registered output,
// optional linear interpolation for inputs with FRAC_BITS extra low bits.
//
// x_i is an unsigned IN_BITS+FRAC_BITS-bit index (signed activations: flip the
// sign bit first; t2c.arith.build_lut stores entry k for input code k + qmin).
// Table entries are OUT_BITS wide, two's complement if OUT_SIGNED else unsigned;
// y_o has the same format.  Exactly t2c.arith.lut_interp(T, x, IN_BITS, F):
//
//   F = 0:  y = T[x]
//   F > 0:  i = x >> F,  f = x & (2^F - 1),  j = min(i + 1, 2^IN_BITS - 1)
//           y = T[i] + (((T[j] - T[i]) * f + 2^(F-1)) >>> F)
//
// (`>>>` arithmetic, i.e. floor division: ties round towards +inf.)  y lies
// between T[i] and T[j], so it always fits OUT_BITS.
//
// Latency (valid_i to valid_o, one input per cycle, no back-pressure):
//   LATENCY = 1 for FRAC_BITS = 0 (synchronous ROM read into y_o)
//   LATENCY = 2 for FRAC_BITS > 0 (read T[i], T[j]; then interpolate into y_o)
// y_o holds the last result while valid_o is low.
//
// INIT_FILE must be an absolute path (simulators resolve relative paths from
// their working directory); one OUT_BITS-bit hex word per line, entry 0 first.
module lut #(
  parameter integer IN_BITS    = 8,
  parameter integer FRAC_BITS  = 0,
  parameter integer OUT_BITS   = 8,
  parameter integer OUT_SIGNED = 1,
  parameter         INIT_FILE  = ""
) (
  input  wire                         clk_i,
  input  wire                         rst_ni,
  input  wire                         valid_i,
  input  wire [IN_BITS+FRAC_BITS-1:0] x_i,
  output wire                         valid_o,
  output wire [OUT_BITS-1:0]          y_o
);

  localparam integer DEPTH = 1 << IN_BITS;

  reg [OUT_BITS-1:0] mem [0:DEPTH-1] /* verilator public_flat_rd */;  // testbenches read it
  initial begin
    if (INIT_FILE != "") begin
      $readmemh(INIT_FILE, mem);
    end
  end

  wire [IN_BITS-1:0] idx = x_i[IN_BITS+FRAC_BITS-1:FRAC_BITS];

  // stage 1, both paths: read T[i] (a synchronous ROM read); it is the output of the
  // plain lookup
  reg                v1_q;
  reg [OUT_BITS-1:0] ti_q;
  always @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      v1_q <= 1'b0;
    end else begin
      v1_q <= valid_i;
    end
  end
  always @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      ti_q <= {OUT_BITS{1'b0}};
    end else if (valid_i) begin
      ti_q <= mem[idx];
    end
  end

  generate
    if (FRAC_BITS == 0) begin : g_plain
      assign valid_o = v1_q;
      assign y_o     = ti_q;

    end else begin : g_interp
      // Entries widened (sign- or zero-extended) so that all arithmetic is exact.
      // |T[j] - T[i]| < 2^(OUT_BITS+1) and f < 2^F: the product plus the rounding
      // term and T[i] fit OUT_BITS + F + 3 signed bits.
      localparam integer PW = OUT_BITS + FRAC_BITS + 3;

      wire [IN_BITS-1:0] idx_hi = idx + 1'b1;
      wire [IN_BITS-1:0] idx_j  = (idx == {IN_BITS{1'b1}}) ? idx : idx_hi;

      // stage 1, continued: read the upper neighbour T[j], keep the fraction
      reg [OUT_BITS-1:0]  tj_q;
      reg [FRAC_BITS-1:0] f_q;
      always @(posedge clk_i or negedge rst_ni) begin
        if (!rst_ni) begin
          tj_q <= {OUT_BITS{1'b0}};
          f_q  <= {FRAC_BITS{1'b0}};
        end else if (valid_i) begin
          tj_q <= mem[idx_j];
          f_q  <= x_i[FRAC_BITS-1:0];
        end
      end

      // stage 2: interpolate
      wire ti_s = (OUT_SIGNED != 0) ? ti_q[OUT_BITS-1] : 1'b0;
      wire tj_s = (OUT_SIGNED != 0) ? tj_q[OUT_BITS-1] : 1'b0;
      wire signed [PW-1:0] ti_x  = {{(PW-OUT_BITS){ti_s}}, ti_q};
      wire signed [PW-1:0] tj_x  = {{(PW-OUT_BITS){tj_s}}, tj_q};
      wire signed [PW-1:0] f_x   = {{(PW-FRAC_BITS){1'b0}}, f_q};
      wire signed [PW-1:0] one   = {{(PW-1){1'b0}}, 1'b1};
      wire signed [PW-1:0] rnd   = one <<< (FRAC_BITS - 1);  // 2^(F-1)
      wire signed [PW-1:0] delta = (tj_x - ti_x) * f_x + rnd;
      /* verilator lint_off UNUSEDSIGNAL */
      wire signed [PW-1:0] y     = ti_x + (delta >>> FRAC_BITS);  // between T[i] and T[j]
      /* verilator lint_on UNUSEDSIGNAL */

      reg                v2_q;
      reg [OUT_BITS-1:0] y_q;
      always @(posedge clk_i or negedge rst_ni) begin
        if (!rst_ni) begin
          v2_q <= 1'b0;
        end else begin
          v2_q <= v1_q;
        end
      end
      always @(posedge clk_i or negedge rst_ni) begin
        if (!rst_ni) begin
          y_q <= {OUT_BITS{1'b0}};
        end else if (v1_q) begin
          y_q <= y[OUT_BITS-1:0];
        end
      end
      assign valid_o = v2_q;
      assign y_o     = y_q;
    end
  endgenerate

endmodule

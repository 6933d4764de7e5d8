// A designer's own dense-layer unit, written outside t2c (the corner-stimulus tests verify
// it through t2c's --unit / --rtl-dir path): the input codes stream in, one per beat,
// into a buffer; then for every row and output channel one MAC per cycle, its own
// requantizer (round half up, then the clamp) and one output code per beat.  Weights,
// biases and per-channel (m, s) are read through memory ports, one word per cycle.
module stream_dense #(
  parameter integer XBITS   = 8,   // input code width
  parameter integer XSIGNED = 1,
  parameter integer WBITS   = 8,
  parameter integer OUTW    = 8,
  parameter integer K       = 4,   // inputs per row (reduction)
  parameter integer N       = 4,   // output channels
  parameter integer NX      = 4,   // input codes in all (rows * K)
  parameter integer ZX      = 0,   // zero points and clamp (integers)
  parameter integer ZY      = 0,
  parameter integer QMIN    = -128,
  parameter integer QMAX    = 127
) (
  input  wire             clk,
  input  wire             rst_n,
  input  wire             in_valid,
  input  wire [XBITS-1:0] in_data,
  output reg              out_valid,
  output reg  [OUTW-1:0]  out_data,
  output reg  [31:0]      w_addr,    // weight n*K + k
  input  wire [WBITS-1:0] w_data,
  output reg  [31:0]      c_addr,    // channel n: bias, m, s
  input  wire [31:0]      bias_data,
  input  wire [31:0]      m_data,
  input  wire [7:0]       s_data
);

  localparam integer ROWS = NX / K;
  localparam [XBITS:0] ZXB = ZX;  // the input zero point in XBITS + 1 bits (two's complement)
  localparam [2:0] S_IN = 3'd0, S_BIAS = 3'd1, S_MAC = 3'd2, S_REQ = 3'd3, S_DONE = 3'd4;

  reg [XBITS-1:0] xmem [0:NX-1];
  reg [2:0]  state;
  reg [31:0] cnt, row, n, k;
  reg signed [31:0] acc;

  // (x - zx) * w for the current tap, in 32-bit signed arithmetic
  wire signed [31:0] x32  = XSIGNED ? {{(32-XBITS){xmem[row*K + k][XBITS-1]}}, xmem[row*K + k]}
                                    : {{(32-XBITS){1'b0}}, xmem[row*K + k]};
  wire signed [31:0] zx32 = {{(31-XBITS){ZXB[XBITS]}}, ZXB};
  wire signed [31:0] w32  = {{(32-WBITS){w_data[WBITS-1]}}, w_data};
  wire signed [31:0] prod = (x32 - zx32) * w32;
  wire signed [31:0] bias32 = bias_data;

  // the requantizer: y = clamp(((acc * m + 2^(s-1)) >> s) + zy, qmin, qmax)
  reg signed [63:0] p, r, v;
  reg [OUTW-1:0]    y;
  always @(*) begin
    p = {{32{acc[31]}}, acc} * {33'd0, m_data[30:0]};
    if (s_data == 8'd0) r = p;
    else r = (p + (64'sd1 <<< (s_data - 8'd1))) >>> s_data;
    v = r + ZY;
    if (v < QMIN) y = QMIN[OUTW-1:0];
    else if (v > QMAX) y = QMAX[OUTW-1:0];
    else y = v[OUTW-1:0];
  end

  always @(*) begin
    w_addr = n * K + k;
    c_addr = n;
  end

  always @(posedge clk or negedge rst_n) begin
    if (!rst_n) begin
      state <= S_IN;  cnt <= 32'd0;  row <= 32'd0;  n <= 32'd0;  k <= 32'd0;  acc <= 32'sd0;
      out_valid <= 1'b0;  out_data <= {OUTW{1'b0}};
    end else begin
      out_valid <= 1'b0;
      case (state)
        S_IN: if (in_valid) begin
          xmem[cnt] <= in_data;
          cnt <= cnt + 32'd1;
          if (cnt == NX - 1) state <= S_BIAS;
        end
        S_BIAS: begin
          acc <= bias32;
          k <= 32'd0;
          state <= S_MAC;
        end
        S_MAC: begin
          acc <= acc + prod;
          if (k == K - 1) state <= S_REQ;
          else k <= k + 32'd1;
        end
        S_REQ: begin
          out_valid <= 1'b1;
          out_data <= y;
          if (n == N - 1) begin
            n <= 32'd0;
            row <= row + 32'd1;
            state <= (row == ROWS - 1) ? S_DONE : S_BIAS;
          end else begin
            n <= n + 32'd1;
            state <= S_BIAS;
          end
        end
        default: state <= S_DONE;
      endcase
    end
  end

endmodule

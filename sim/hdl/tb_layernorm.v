// Memory-driven wrapper for rtl/layernorm.v (see sim/test_layernorm.py).
//
// X_FILE, G_FILE, O_FILE hold NX input codes (IN_BITS bits) and each element's gain
// (GAIN_BITS) and offset (OFF_BITS), rows back to back, plus a guard word each; D_FILE
// holds one descriptor word per row (NROWS, plus a guard word), packed
//   {n (NW bits), G (SHW), eps (EPS_BITS), zy, qmin, qmax (OUT_BITS + 1 each)}
// with qmax in the lowest bits (two's complement fields).
// Elements are offered one per cycle with a valid/ready register (bubbles when
// GAPS != 0) together with their row's descriptor; every output is stored in order
// with its last_o flag and the row's r_o; y_mem, l_mem and r_mem are written to
// Y_FILE, L_FILE and R_FILE, then `done` rises and `cycles` holds the cycle count.
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
  wire [31:0] cycles;  // with done: read by the cocotb test (simutil.wait_done)
  /* verilator lint_on UNUSEDSIGNAL */
  tb_harness #(.GAPS(GAPS), .GAP_SEED(GAP_SEED)) u_harness (
    .clk_o(clk), .rst_no(rst_n), .cyc_o(cyc), .gap_o(gap),
    .finish_i(finish), .done_o(done), .cycles_o(cycles)
  );

  reg [IN_BITS-1:0]   x_mem [0:NX];
  reg [GAIN_BITS-1:0] g_mem [0:NX];
  reg [OFF_BITS-1:0]  o_mem [0:NX];
  reg [DSW-1:0]      d_mem [0:NROWS];
  reg [OUT_BITS-1:0] y_mem [0:NX-1];
  reg                l_mem [0:NX-1];
  reg [RW-1:0]       r_mem [0:NX-1];
  initial begin
    $readmemh(X_FILE, x_mem);
    $readmemh(G_FILE, g_mem);
    $readmemh(O_FILE, o_mem);
    $readmemh(D_FILE, d_mem);
  end

  // ---------------------------------------------------------------- issue
  // A valid/ready source register: refilled from memory when empty or consumed.
  wire               ready;
  reg                v_q;
  reg [IN_BITS-1:0]  x_q;
  reg [GAIN_BITS-1:0] g_q;
  reg [OFF_BITS-1:0] o_q;
  reg [DSW-1:0]      d_q;
  reg [31:0]         xin, row, col;
  wire [DSW-1:0]     d_row = d_mem[row];
  wire [NW-1:0]      n_row = d_row[DSW-1 -: NW];
  wire               refill = !v_q || ready;
  wire               take   = refill && !gap && (xin < NX);
  always @(posedge clk or negedge rst_n) begin
    if (!rst_n) begin
      v_q <= 1'b0;
      x_q <= {IN_BITS{1'b0}};
      g_q <= {GAIN_BITS{1'b0}};
      o_q <= {OFF_BITS{1'b0}};
      d_q <= {DSW{1'b0}};
      xin <= 32'd0;
      row <= 32'd0;
      col <= 32'd0;
    end else if (refill) begin
      v_q <= take;
      x_q <= x_mem[xin];
      g_q <= g_mem[xin];
      o_q <= o_mem[xin];
      d_q <= d_row;
      if (take) begin
        xin <= xin + 32'd1;
        if (col + 32'd1 == {{(32-NW){1'b0}}, n_row}) begin
          col <= 32'd0;
          row <= row + 32'd1;
        end else begin
          col <= col + 32'd1;
        end
      end
    end
  end

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
  reg [31:0] yout;
  always @(posedge clk or negedge rst_n) begin
    if (!rst_n) begin
      yout <= 32'd0;
    end else if (valid_o) begin
      y_mem[yout] <= y;
      l_mem[yout] <= last_o;
      r_mem[yout] <= r;
      yout        <= yout + 32'd1;
    end
  end

  // All outputs stored: dump them once, then the harness raises `done`.
  assign finish = (yout == NX);
  always @(posedge clk) begin
    if (finish && !done) begin
      $writememh(Y_FILE, y_mem);
      $writememh(L_FILE, l_mem);
      $writememh(R_FILE, r_mem);
    end
  end

endmodule

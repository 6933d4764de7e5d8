// Memory-driven wrapper for rtl/softmax.v (see sim/test_vit_layers.py).
//
// X_FILE holds NX input codes (IN_BITS bits, rows back to back, plus a guard word);
// N_FILE and Q_FILE hold each of the NROWS rows' length n (NW bits) and qmax
// (OUT_BITS bits), plus a guard word each.  EXP_FILE is the softmax's exp table
// (2^IN_BITS 16-bit entries, no guard).  Inputs are offered one per cycle with a
// valid/ready register (bubbles when GAPS != 0) and n_i/qmax_i of their row; every
// output is stored in order with its last_o flag, y_mem is written to Y_FILE and
// l_mem to L_FILE, then `done` rises and `cycles` holds the cycle count.
module tb_softmax #(
  parameter integer IN_BITS   = 8,
  parameter integer IN_SIGNED = 1,
  parameter integer OUT_BITS  = 8,
  parameter integer MAX_N     = 256,
  parameter integer NX        = 1,
  parameter integer NROWS     = 1,
  parameter integer GAPS      = 0,
  parameter integer GAP_SEED  = 1,
  parameter         EXP_FILE  = "",
  parameter         X_FILE    = "",
  parameter         N_FILE    = "",
  parameter         Q_FILE    = "",
  parameter         Y_FILE    = "",
  parameter         L_FILE    = ""
) ();

  localparam integer NW = $clog2(MAX_N + 1);

  wire        clk, rst_n, gap, finish, done;
  /* verilator lint_off UNUSEDSIGNAL */
  wire [31:0] cyc;     // unused here
  wire [31:0] cycles;  // with done: read by the cocotb test (simutil.wait_done)
  /* verilator lint_on UNUSEDSIGNAL */
  tb_harness #(.GAPS(GAPS), .GAP_SEED(GAP_SEED)) u_harness (
    .clk_o(clk), .rst_no(rst_n), .cyc_o(cyc), .gap_o(gap),
    .finish_i(finish), .done_o(done), .cycles_o(cycles)
  );

  reg [IN_BITS-1:0]  x_mem [0:NX];
  reg [NW-1:0]       n_mem [0:NROWS];
  reg [OUT_BITS-1:0] q_mem [0:NROWS];
  reg [OUT_BITS-1:0] y_mem [0:NX-1];
  reg                l_mem [0:NX-1];
  initial begin
    $readmemh(X_FILE, x_mem);
    $readmemh(N_FILE, n_mem);
    $readmemh(Q_FILE, q_mem);
  end

  // ---------------------------------------------------------------- issue
  // A valid/ready source register: refilled from memory when empty or consumed.
  wire               ready;
  reg                v_q;
  reg [IN_BITS-1:0]  x_q;
  reg [NW-1:0]       n_q;
  reg [OUT_BITS-1:0] qm_q;
  reg [31:0]         xin, row, col;
  wire               refill = !v_q || ready;
  wire               take   = refill && !gap && (xin < NX);
  always @(posedge clk or negedge rst_n) begin
    if (!rst_n) begin
      v_q  <= 1'b0;
      x_q  <= {IN_BITS{1'b0}};
      n_q  <= {NW{1'b0}};
      qm_q <= {OUT_BITS{1'b0}};
      xin  <= 32'd0;
      row  <= 32'd0;
      col  <= 32'd0;
    end else if (refill) begin
      v_q  <= take;
      x_q  <= x_mem[xin];
      n_q  <= n_mem[row];
      qm_q <= q_mem[row];
      if (take) begin
        xin <= xin + 32'd1;
        if (col + 32'd1 == {{(32-NW){1'b0}}, n_mem[row]}) begin
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
  softmax #(
    .IN_BITS(IN_BITS), .IN_SIGNED(IN_SIGNED), .OUT_BITS(OUT_BITS), .MAX_N(MAX_N),
    .EXP_FILE(EXP_FILE)
  ) u_dut (
    .clk_i(clk), .rst_ni(rst_n), .n_i(n_q), .qmax_i(qm_q),
    .valid_i(v_q), .ready_o(ready), .x_i(x_q),
    .valid_o(valid_o), .last_o(last_o), .y_o(y)
  );

  // ---------------------------------------------------------------- capture
  reg [31:0] yout;
  always @(posedge clk or negedge rst_n) begin
    if (!rst_n) begin
      yout <= 32'd0;
    end else if (valid_o) begin
      y_mem[yout] <= y;
      l_mem[yout] <= last_o;
      yout        <= yout + 32'd1;
    end
  end

  // All outputs stored: dump them once, then the harness raises `done`.
  assign finish = (yout == NX);
  always @(posedge clk) begin
    if (finish && !done) begin
      $writememh(Y_FILE, y_mem);
      $writememh(L_FILE, l_mem);
    end
  end

endmodule

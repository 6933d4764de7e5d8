// Memory-driven wrapper for rtl/requant.v (see sim/test_requant.py).
//
// Operands: one lane value per line in each image, NVEC*LANES values plus one
// guard word (simutil.write_memh) that the cocotb test checks to prove the load.
// Element e = v*LANES + l is lane l of vector v.  One vector is issued per cycle
// (bubbles when GAPS != 0); every output vector is stored in y_mem, written to
// Y_FILE with $writememh, then `done` rises and `cycles` holds the cycle count.
module tb_requant #(
  parameter integer LANES     = 8,
  parameter integer MULT_BITS = 32,
  parameter integer OUTW      = 16,
  parameter integer NVEC      = 1,
  parameter integer GAPS      = 0,
  parameter integer GAP_SEED  = 1,
  parameter         ACC_FILE  = "",
  parameter         M_FILE    = "",
  parameter         S_FILE    = "",
  parameter         ZP_FILE   = "",
  parameter         QMIN_FILE = "",
  parameter         QMAX_FILE = "",
  parameter         Y_FILE    = ""
) ();

  localparam integer ACCW       = 32;
  localparam integer SHIFT_BITS = 6;
  localparam integer NEL        = NVEC * LANES;

  wire        clk, rst_n, gap, finish, done;
  /* verilator lint_off UNUSEDSIGNAL */
  wire [31:0] cyc;     // unused here
  wire [31:0] cycles;  // with done: read by the cocotb test (simutil.wait_done)
  /* verilator lint_on UNUSEDSIGNAL */
  tb_harness #(.GAPS(GAPS), .GAP_SEED(GAP_SEED)) u_harness (
    .clk_o(clk), .rst_no(rst_n), .cyc_o(cyc), .gap_o(gap),
    .finish_i(finish), .done_o(done), .cycles_o(cycles)
  );

  reg [ACCW-1:0]       acc_mem  [0:NEL];
  reg [MULT_BITS-1:0]  m_mem    [0:NEL];
  reg [SHIFT_BITS-1:0] s_mem    [0:NEL];
  reg [OUTW-1:0]       zp_mem   [0:NEL];
  reg [OUTW-1:0]       qmin_mem [0:NEL];
  reg [OUTW-1:0]       qmax_mem [0:NEL];
  reg [OUTW-1:0]       y_mem    [0:NEL-1];
  initial begin
    $readmemh(ACC_FILE, acc_mem);
    $readmemh(M_FILE, m_mem);
    $readmemh(S_FILE, s_mem);
    $readmemh(ZP_FILE, zp_mem);
    $readmemh(QMIN_FILE, qmin_mem);
    $readmemh(QMAX_FILE, qmax_mem);
  end

  // ---------------------------------------------------------------- issue
  // Vector vin is read from the memories into registers (like a synchronous RAM
  // port): one event per operand bus per cycle, which keeps Icarus fast.
  reg  [31:0] vin;
  wire        take = rst_n && !gap && (vin < NVEC);
  always @(posedge clk or negedge rst_n) begin
    if (!rst_n) begin
      vin <= 32'd0;
    end else if (take) begin
      vin <= vin + 32'd1;
    end
  end

  reg                        valid_i;
  reg [LANES*ACCW-1:0]       acc_bus;
  reg [LANES*MULT_BITS-1:0]  m_bus;
  reg [LANES*SHIFT_BITS-1:0] s_bus;
  reg [LANES*OUTW-1:0]       zp_bus, qmin_bus, qmax_bus;
  wire [LANES*OUTW-1:0]      y_bus;
  integer i;
  always @(posedge clk or negedge rst_n) begin
    if (!rst_n) begin
      valid_i  <= 1'b0;
      acc_bus  <= {(LANES*ACCW){1'b0}};
      m_bus    <= {(LANES*MULT_BITS){1'b0}};
      s_bus    <= {(LANES*SHIFT_BITS){1'b0}};
      zp_bus   <= {(LANES*OUTW){1'b0}};
      qmin_bus <= {(LANES*OUTW){1'b0}};
      qmax_bus <= {(LANES*OUTW){1'b0}};
    end else begin
      valid_i <= take;
      for (i = 0; i < LANES; i = i + 1) begin
        acc_bus[i*ACCW +: ACCW]           <= acc_mem[vin*LANES + i];
        m_bus[i*MULT_BITS +: MULT_BITS]   <= m_mem[vin*LANES + i];
        s_bus[i*SHIFT_BITS +: SHIFT_BITS] <= s_mem[vin*LANES + i];
        zp_bus[i*OUTW +: OUTW]            <= zp_mem[vin*LANES + i];
        qmin_bus[i*OUTW +: OUTW]          <= qmin_mem[vin*LANES + i];
        qmax_bus[i*OUTW +: OUTW]          <= qmax_mem[vin*LANES + i];
      end
    end
  end

  wire valid_o;
  requant #(
    .LANES(LANES), .ACCW(ACCW), .MULT_BITS(MULT_BITS), .SHIFT_BITS(SHIFT_BITS), .OUTW(OUTW)
  ) u_dut (
    .clk_i(clk), .rst_ni(rst_n), .valid_i(valid_i),
    .acc_i(acc_bus), .m_i(m_bus), .s_i(s_bus),
    .zp_i(zp_bus), .qmin_i(qmin_bus), .qmax_i(qmax_bus), .add_i({LANES{1'b0}}),
    .valid_o(valid_o), .y_o(y_bus)
  );

  // ---------------------------------------------------------------- capture
  reg [31:0] vout;
  integer k;
  always @(posedge clk or negedge rst_n) begin
    if (!rst_n) begin
      vout <= 32'd0;
    end else if (valid_o) begin
      for (k = 0; k < LANES; k = k + 1) begin
        y_mem[vout*LANES + k] <= y_bus[k*OUTW +: OUTW];
      end
      vout <= vout + 32'd1;
    end
  end

  // All outputs stored: dump them once, then the harness raises `done`.
  assign finish = (vout == NVEC);
  always @(posedge clk) begin
    if (finish && !done) begin
      $writememh(Y_FILE, y_mem);
    end
  end

endmodule

// Bus-driven wrapper for rtl/engine_axi.v (sim/test_engine_axi.py,
// t2c/sim/cocotb_engine_axi.py).
//
// Clock and reset come from tb_harness (HDL, like every wrapper here); the AXI4-Lite
// slave's signals are the wrapper's own ports, driven by cocotbext-axi's AxiLiteMaster
// (prefix s_axil).  Nothing is loaded from files unless the *_FILE parameters are given:
// the test writes every memory over the bus.
module tb_engine_axi #(
  parameter integer ROWS       = 8,
  parameter integer COLS       = 8,
  parameter integer ABITS      = 8,
  parameter integer WBITS      = 8,
  parameter integer ACCW       = 32,
  parameter integer MULT_BITS  = 32,
  parameter integer OBITS      = 8,
  parameter integer ACT_WORDS  = 1,
  parameter integer W_WORDS    = 1,
  parameter integer CT_WORDS   = 1,
  parameter integer RES_WORDS  = 1,
  parameter integer OUT_WORDS  = 1,
  parameter         DESC_FILE  = "",
  parameter         TILES_FILE = "",
  parameter         ACT_FILE   = "",
  parameter         W_FILE     = "",
  parameter         BIAS_FILE  = "",
  parameter         M_FILE     = "",
  parameter         S_FILE     = "",
  parameter         RES_FILE   = "",
  parameter         RM_FILE    = ""
) (
  output wire        clk,
  output wire        rst_n,
  input  wire [31:0] s_axil_awaddr,
  input  wire [2:0]  s_axil_awprot,
  input  wire        s_axil_awvalid,
  output wire        s_axil_awready,
  input  wire [31:0] s_axil_wdata,
  input  wire [3:0]  s_axil_wstrb,
  input  wire        s_axil_wvalid,
  output wire        s_axil_wready,
  output wire [1:0]  s_axil_bresp,
  output wire        s_axil_bvalid,
  input  wire        s_axil_bready,
  input  wire [31:0] s_axil_araddr,
  input  wire [2:0]  s_axil_arprot,
  input  wire        s_axil_arvalid,
  output wire        s_axil_arready,
  output wire [31:0] s_axil_rdata,
  output wire [1:0]  s_axil_rresp,
  output wire        s_axil_rvalid,
  input  wire        s_axil_rready,
  output wire        eng_busy,
  output wire        eng_done,
  output wire        eng_err,
  output wire [31:0] cyc
);

  /* verilator lint_off UNUSEDSIGNAL */
  wire        gap, h_done;
  wire [31:0] h_cycles;
  /* verilator lint_on UNUSEDSIGNAL */
  tb_harness u_harness (
    .clk_o(clk), .rst_no(rst_n), .cyc_o(cyc), .gap_o(gap),
    .finish_i(1'b0), .done_o(h_done), .cycles_o(h_cycles)
  );

  engine_axi #(
    .ROWS(ROWS), .COLS(COLS), .ABITS(ABITS), .WBITS(WBITS), .ACCW(ACCW),
    .MULT_BITS(MULT_BITS), .OBITS(OBITS), .ACT_WORDS(ACT_WORDS), .W_WORDS(W_WORDS),
    .CT_WORDS(CT_WORDS), .RES_WORDS(RES_WORDS), .OUT_WORDS(OUT_WORDS),
    .DESC_FILE(DESC_FILE), .TILES_FILE(TILES_FILE), .ACT_FILE(ACT_FILE), .W_FILE(W_FILE),
    .BIAS_FILE(BIAS_FILE), .M_FILE(M_FILE), .S_FILE(S_FILE), .RES_FILE(RES_FILE),
    .RM_FILE(RM_FILE)
  ) u_dut (
    .clk_i(clk), .rst_ni(rst_n),
    .s_axil_awaddr(s_axil_awaddr), .s_axil_awprot(s_axil_awprot), .s_axil_awvalid(s_axil_awvalid),
    .s_axil_awready(s_axil_awready), .s_axil_wdata(s_axil_wdata), .s_axil_wstrb(s_axil_wstrb),
    .s_axil_wvalid(s_axil_wvalid), .s_axil_wready(s_axil_wready), .s_axil_bresp(s_axil_bresp),
    .s_axil_bvalid(s_axil_bvalid), .s_axil_bready(s_axil_bready), .s_axil_araddr(s_axil_araddr),
    .s_axil_arprot(s_axil_arprot), .s_axil_arvalid(s_axil_arvalid), .s_axil_arready(s_axil_arready),
    .s_axil_rdata(s_axil_rdata), .s_axil_rresp(s_axil_rresp), .s_axil_rvalid(s_axil_rvalid),
    .s_axil_rready(s_axil_rready),
    .busy_o(eng_busy), .done_o(eng_done), .err_o(eng_err)
  );

endmodule

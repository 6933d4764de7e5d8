// Layer engine: one conv, linear or matmul layer of a t2c integer model, computed from
// on-chip memories loaded with $readmemh from the images t2c writes
// (t2c/export/engine.py; memory map, descriptor and timing in docs/engine.md).
//
//   y = clip(((acc*m + (r - zr)*m_r + 2^(s-1)) >> s) + zy, qmin, qmax),
//   acc = bias + sum_k (x_k - zx) * (w_k - zw)         (t2c arithmetic contract v1)
//
// Datapath: engine_ctrl walks the output tiles (ROWS output pixels x COLS output
// channels) and generates the im2col addresses; every cycle one K-step goes to
// mac_array (ROWS activations, read through ROWS ports of the activation memory, and
// COLS weights, one weight word); each finished tile is drained row by row by
// engine_post into requant (LANES = COLS) with the residual term, and written to the
// output memory.  Activations (and residuals) are ABITS-bit codes, signed or unsigned
// as the descriptor says: the MAC array sees them as ABITS+1-bit signed values.
// Weights are WBITS-bit codes, signed or unsigned, with a zero point zw (0 for conv
// and linear layers; for a matmul of two activations, e.g. Q.K^T, the weight memory
// holds the second operand's codes and zw is its zero point): the MAC array sees
// w - zw as WBITS+1-bit signed values.
//
// Memories (DEPTH = data words + 1 guard word, except the output memory):
//   descriptor  DESC_WORDS+1 x 32           DESC_FILE   (also writable: cfg_*_i)
//   tiles       CT_WORDS+1 x 128            TILES_FILE  per column tile
//   activation  ACT_WORDS+1 x COLS*ABITS    ACT_FILE    ROWS read ports
//   weight      W_WORDS+1 x COLS*WBITS      W_FILE      (codes; zw subtracted on the way out)
//   bias        CT_WORDS+1 x COLS*ACCW      BIAS_FILE
//   m, m_r      CT_WORDS+1 x COLS*MULT_BITS M_FILE, RM_FILE
//   s           CT_WORDS+1 x COLS*8         S_FILE
//   residual    RES_WORDS+1 x COLS*ABITS    RES_FILE
//   output      OUT_WORDS x COLS*OBITS      written by the engine, read via out_raddr_i
//
// Host write port (mem_*_i): every memory but the output one can also be written while
// the engine is idle: mem_we_i high at a rising edge stores mem_wdata_i (its low
// <memory word width> bits) at word mem_addr_i of memory mem_sel_i (0 descriptor,
// 1 tiles, 2 activation, 3 weight, 4 bias, 5 m, 6 s, 7 residual, 8 m_r: the order of
// t2c.export.engine.IMAGE_NAMES); addresses past a memory's depth and other selects are
// ignored, and cfg_we_i wins over a descriptor write in the same cycle.  Tie mem_we_i
// low (and the others to 0) to use the *_FILE images only; $readmemh still initialises
// every memory, the write port then overwrites words.  The engine reads only the words
// the descriptor asks for, so a build whose *_WORDS are the maximum over a network's
// layers runs each of them (images loaded at address 0, the rest of a memory unused).
//
// Handshake: pulse start_i while busy_o is low; done_o rises when every output is
// written and stays high until the next start_i; cycles_o = cycles from start to done,
// steps_o = K-steps issued (MAC array busy cycles); err_o (with done_o, nothing
// computed) when descriptor word 0 is not the magic number (image not loaded).
module layer_engine #(
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
  parameter         RM_FILE    = "",
  // Output memory address width; derived, do not override.
  parameter integer OAW_P      = (OUT_WORDS > 1) ? $clog2(OUT_WORDS) : 1,
  // Host write port data width (the widest memory word); derived, do not override.
  parameter integer MDW_P      = ((ACCW > MULT_BITS ? ACCW : MULT_BITS) * COLS > 128) ?
                                 (ACCW > MULT_BITS ? ACCW : MULT_BITS) * COLS : 128
) (
  input  wire                   clk_i,
  input  wire                   rst_ni,
  input  wire                   start_i,
  output wire                   busy_o,
  output wire                   done_o,
  output wire                   err_o,
  output wire [31:0]            cycles_o,
  output wire [31:0]            steps_o,
  // descriptor write port (optional; tie cfg_we_i low to use DESC_FILE only)
  input  wire                   cfg_we_i,
  input  wire [4:0]             cfg_addr_i,
  input  wire [31:0]            cfg_wdata_i,
  // host write port for every memory but the output (optional; tie mem_we_i low)
  input  wire                   mem_we_i,
  input  wire [3:0]             mem_sel_i,
  input  wire [23:0]            mem_addr_i,
  input  wire [MDW_P-1:0]       mem_wdata_i,
  // output memory read port: word out_raddr_i on out_rdata_o one cycle later
  input  wire [OAW_P-1:0]       out_raddr_i,
  output wire [COLS*OBITS-1:0]  out_rdata_o
);

  localparam integer PW         = 24;
  localparam integer DESC_WORDS = 32;
  localparam [31:0]  MAGIC      = 32'h74326502;
  localparam integer AAW  = $clog2(ACT_WORDS + 1);
  localparam integer WAW  = $clog2(W_WORDS + 1);
  localparam integer TAW  = $clog2(CT_WORDS + 1);
  localparam integer RAW  = $clog2(RES_WORDS + 1);
  localparam integer AXB  = ABITS + 1;  // activation as seen by the MAC array (signed)
  localparam integer WXB  = WBITS + 1;  // weight minus its zero point, as the MAC array sees it
  localparam integer RSELW = (ROWS > 1) ? $clog2(ROWS) : 1;
  localparam integer NCW  = $clog2(COLS + 1);
  localparam integer LW   = (COLS > 1) ? $clog2(COLS) : 1;

  // ---------------------------------------------------------------- host write port
  localparam [3:0] SEL_DESC = 4'd0, SEL_TILES = 4'd1, SEL_ACT = 4'd2, SEL_W = 4'd3, SEL_BIAS = 4'd4,
                   SEL_M = 4'd5, SEL_S = 4'd6, SEL_RES = 4'd7, SEL_RM = 4'd8;
  /* verilator lint_off WIDTHTRUNC */
  localparam [23:0] LAST_DESC = DESC_WORDS, LAST_ACT = ACT_WORDS, LAST_W = W_WORDS,
                    LAST_CT = CT_WORDS, LAST_RES = RES_WORDS;
  /* verilator lint_on WIDTHTRUNC */
  wire we_desc  = mem_we_i && (mem_sel_i == SEL_DESC) && (mem_addr_i <= LAST_DESC);
  wire we_tiles = mem_we_i && (mem_sel_i == SEL_TILES) && (mem_addr_i <= LAST_CT);
  wire we_act   = mem_we_i && (mem_sel_i == SEL_ACT) && (mem_addr_i <= LAST_ACT);
  wire we_w     = mem_we_i && (mem_sel_i == SEL_W) && (mem_addr_i <= LAST_W);
  wire we_bias  = mem_we_i && (mem_sel_i == SEL_BIAS) && (mem_addr_i <= LAST_CT);
  wire we_m     = mem_we_i && (mem_sel_i == SEL_M) && (mem_addr_i <= LAST_CT);
  wire we_s     = mem_we_i && (mem_sel_i == SEL_S) && (mem_addr_i <= LAST_CT);
  wire we_res   = mem_we_i && (mem_sel_i == SEL_RES) && (mem_addr_i <= LAST_RES);
  wire we_rm    = mem_we_i && (mem_sel_i == SEL_RM) && (mem_addr_i <= LAST_CT);

  // ---------------------------------------------------------------- descriptor
  reg [31:0] desc [0:DESC_WORDS] /* verilator public_flat_rd */;  // + guard word
  initial begin
    if (DESC_FILE != "") begin
      $readmemh(DESC_FILE, desc);
    end
  end
  always @(posedge clk_i) begin
    if (cfg_we_i) begin
      desc[{1'b0, cfg_addr_i}] <= cfg_wdata_i;
    end else if (we_desc) begin
      desc[mem_addr_i[5:0]] <= mem_wdata_i[31:0];
    end
  end

  /* verilator lint_off UNUSEDSIGNAL */
  wire [31:0] d_magic = desc[0],  d_flags = desc[1],   d_in_h = desc[2],    d_in_w = desc[3];
  wire [31:0] d_in_hw = desc[4],  d_out_w = desc[5],   d_npix = desc[6],    d_pix_end = desc[7];
  wire [31:0] d_kh = desc[8],     d_kw = desc[9],      d_str_h = desc[10],  d_str_w = desc[11];
  wire [31:0] d_pad_h = desc[12], d_pad_w = desc[13],  d_dil_h = desc[14],  d_dil_w = desc[15];
  wire [31:0] d_dhw = desc[16],   d_shw = desc[17],    d_base0 = desc[18],  d_nct = desc[19];
  wire [31:0] d_x_zp = desc[20],  d_y_zp = desc[21],   d_qmin = desc[22],   d_qmax = desc[23];
  wire [31:0] d_r_zp = desc[24], d_w_zp = desc[25];
  /* verilator lint_on UNUSEDSIGNAL */
  wire cfg_ok   = (d_magic == MAGIC);
  wire x_signed = d_flags[0];
  wire res_en   = d_flags[1];
  wire r_signed = d_flags[2];
  wire w_signed = d_flags[3];

  // ---------------------------------------------------------------- controller
  wire [TAW-1:0]       tile_raddr, bias_raddr, tile_t, pm_raddr;
  wire [4*32-1:0]      tile_rdata;
  wire [ROWS*AAW-1:0]  act_raddr;
  wire [WAW-1:0]       w_raddr;
  wire                 step_valid, step_first, step_last;
  wire [LW-1:0]        step_lane;
  wire [ROWS-1:0]      step_pad;
  wire                 tile_issued, tile_written;
  wire [PW-1:0]        tile_out_base, tile_p0;
  wire [NCW-1:0]       tile_ncols;

  engine_ctrl #(
    .ROWS(ROWS), .COLS(COLS), .PW(PW), .AAW(AAW), .WAW(WAW), .TAW(TAW)
  ) u_ctrl (
    .clk_i(clk_i), .rst_ni(rst_ni), .start_i(start_i), .cfg_ok_i(cfg_ok),
    .in_h_i(d_in_h[PW-1:0]), .in_w_i(d_in_w[PW-1:0]), .in_hw_i(d_in_hw[PW-1:0]),
    .out_w_i(d_out_w[PW-1:0]), .npix_i(d_npix[PW-1:0]), .pix_end_i(d_pix_end[PW-1:0]),
    .kh_i(d_kh[PW-1:0]), .kw_i(d_kw[PW-1:0]),
    .stride_h_i(d_str_h[PW-1:0]), .stride_w_i(d_str_w[PW-1:0]),
    .pad_h_i(d_pad_h[PW-1:0]), .pad_w_i(d_pad_w[PW-1:0]),
    .dil_h_i(d_dil_h[PW-1:0]), .dil_w_i(d_dil_w[PW-1:0]),
    .dil_h_in_w_i(d_dhw[PW-1:0]), .stride_h_in_w_i(d_shw[PW-1:0]),
    .base0_i(d_base0[PW-1:0]), .n_ctiles_i(d_nct[PW-1:0]),
    .tile_raddr_o(tile_raddr), .tile_rdata_i(tile_rdata),
    .act_raddr_o(act_raddr), .w_raddr_o(w_raddr), .bias_raddr_o(bias_raddr),
    .step_valid_o(step_valid), .step_first_o(step_first), .step_last_o(step_last),
    .step_lane_o(step_lane), .step_pad_o(step_pad),
    .tile_issued_o(tile_issued), .tile_t_o(tile_t), .tile_out_base_o(tile_out_base),
    .tile_p0_o(tile_p0), .tile_ncols_o(tile_ncols), .tile_written_i(tile_written),
    .busy_o(busy_o), .done_o(done_o), .err_o(err_o), .cycles_o(cycles_o), .steps_o(steps_o)
  );

  // ---------------------------------------------------------------- memories
  wire [ROWS*COLS*ABITS-1:0] act_rdata;
  wire [COLS*WBITS-1:0]      w_rdata;
  wire [COLS*ACCW-1:0]       bias_rdata;
  wire [COLS*MULT_BITS-1:0]  m_rdata, rm_rdata;
  wire [COLS*8-1:0]          s_rdata;
  wire [COLS*ABITS-1:0]      res_rdata;
  wire [RAW-1:0]             res_raddr;
  wire                       out_we;
  wire [OAW_P-1:0]           out_waddr;
  wire [COLS*OBITS-1:0]      out_wdata;

  engine_mem #(.WIDTH(4*32), .DEPTH(CT_WORDS + 1), .INIT_FILE(TILES_FILE)) u_tiles (
    .clk_i(clk_i), .rst_ni(rst_ni), .we_i(we_tiles), .waddr_i(mem_addr_i[TAW-1:0]),
    .wdata_i(mem_wdata_i[4*32-1:0]),
    .raddr_i(tile_raddr), .rdata_o(tile_rdata));
  engine_mem #(.WIDTH(COLS*ABITS), .DEPTH(ACT_WORDS + 1), .PORTS(ROWS), .INIT_FILE(ACT_FILE)) u_act (
    .clk_i(clk_i), .rst_ni(rst_ni), .we_i(we_act), .waddr_i(mem_addr_i[AAW-1:0]),
    .wdata_i(mem_wdata_i[COLS*ABITS-1:0]),
    .raddr_i(act_raddr), .rdata_o(act_rdata));
  engine_mem #(.WIDTH(COLS*WBITS), .DEPTH(W_WORDS + 1), .INIT_FILE(W_FILE)) u_w (
    .clk_i(clk_i), .rst_ni(rst_ni), .we_i(we_w), .waddr_i(mem_addr_i[WAW-1:0]),
    .wdata_i(mem_wdata_i[COLS*WBITS-1:0]),
    .raddr_i(w_raddr), .rdata_o(w_rdata));
  engine_mem #(.WIDTH(COLS*ACCW), .DEPTH(CT_WORDS + 1), .INIT_FILE(BIAS_FILE)) u_bias (
    .clk_i(clk_i), .rst_ni(rst_ni), .we_i(we_bias), .waddr_i(mem_addr_i[TAW-1:0]),
    .wdata_i(mem_wdata_i[COLS*ACCW-1:0]),
    .raddr_i(bias_raddr), .rdata_o(bias_rdata));
  engine_mem #(.WIDTH(COLS*MULT_BITS), .DEPTH(CT_WORDS + 1), .INIT_FILE(M_FILE)) u_m (
    .clk_i(clk_i), .rst_ni(rst_ni), .we_i(we_m), .waddr_i(mem_addr_i[TAW-1:0]),
    .wdata_i(mem_wdata_i[COLS*MULT_BITS-1:0]), .raddr_i(pm_raddr), .rdata_o(m_rdata));
  engine_mem #(.WIDTH(COLS*8), .DEPTH(CT_WORDS + 1), .INIT_FILE(S_FILE)) u_s (
    .clk_i(clk_i), .rst_ni(rst_ni), .we_i(we_s), .waddr_i(mem_addr_i[TAW-1:0]),
    .wdata_i(mem_wdata_i[COLS*8-1:0]),
    .raddr_i(pm_raddr), .rdata_o(s_rdata));
  engine_mem #(.WIDTH(COLS*MULT_BITS), .DEPTH(CT_WORDS + 1), .INIT_FILE(RM_FILE)) u_rm (
    .clk_i(clk_i), .rst_ni(rst_ni), .we_i(we_rm), .waddr_i(mem_addr_i[TAW-1:0]),
    .wdata_i(mem_wdata_i[COLS*MULT_BITS-1:0]), .raddr_i(pm_raddr), .rdata_o(rm_rdata));
  engine_mem #(.WIDTH(COLS*ABITS), .DEPTH(RES_WORDS + 1), .INIT_FILE(RES_FILE)) u_res (
    .clk_i(clk_i), .rst_ni(rst_ni), .we_i(we_res), .waddr_i(mem_addr_i[RAW-1:0]),
    .wdata_i(mem_wdata_i[COLS*ABITS-1:0]),
    .raddr_i(res_raddr), .rdata_o(res_rdata));
  engine_mem #(.WIDTH(COLS*OBITS), .DEPTH(OUT_WORDS)) u_out (
    .clk_i(clk_i), .rst_ni(rst_ni), .we_i(out_we), .waddr_i(out_waddr), .wdata_i(out_wdata),
    .raddr_i(out_raddr_i), .rdata_o(out_rdata_o));

  // ---------------------------------------------------------------- MAC array
  // Row r: lane step_lane of its activation word, widened to ABITS+1 bits by the
  // descriptor's signedness, or the zero point where the window is padding.
  reg [ROWS*AXB-1:0] a_bus;
  reg [ABITS-1:0]    a;
  integer r;
  always @(*) begin
    for (r = 0; r < ROWS; r = r + 1) begin
      a = act_rdata[(r*COLS + {{(32-LW){1'b0}}, step_lane})*ABITS +: ABITS];
      a_bus[r*AXB +: AXB] = step_pad[r] ? d_x_zp[AXB-1:0] : {x_signed & a[ABITS-1], a};
    end
  end

  // Column c: lane c of the weight word, widened to WBITS+1 bits by the descriptor's
  // signedness, minus the weight zero point (both in the code range: the difference fits).
  reg [COLS*WXB-1:0] w_bus;
  reg [WBITS-1:0]    wc;
  integer c;
  always @(*) begin
    for (c = 0; c < COLS; c = c + 1) begin
      wc = w_rdata[c*WBITS +: WBITS];
      w_bus[c*WXB +: WXB] = {w_signed & wc[WBITS-1], wc} - d_w_zp[WXB-1:0];
    end
  end

  wire                 res_valid;
  /* verilator lint_off UNUSEDSIGNAL */
  wire [ROWS*COLS*ACCW-1:0] res_all;  // the whole bank; engine_post reads it row by row
  /* verilator lint_on UNUSEDSIGNAL */
  wire [RSELW-1:0]     rd_row;
  wire [COLS*ACCW-1:0] rd_res;
  mac_array #(
    .ROWS(ROWS), .COLS(COLS), .ABITS(AXB), .WBITS(WXB), .ACCW(ACCW), .A_SIGNED(1)
  ) u_mac (
    .clk_i(clk_i), .rst_ni(rst_ni), .valid_i(step_valid), .first_i(step_first),
    .last_i(step_last), .a_i(a_bus), .w_i(w_bus), .zx_i(d_x_zp[AXB:0]), .bias_i(bias_rdata),
    .res_valid_o(res_valid), .res_o(res_all), .rd_row_i(rd_row), .rd_res_o(rd_res)
  );

  // ---------------------------------------------------------------- post-processing
  engine_post #(
    .ROWS(ROWS), .COLS(COLS), .ABITS(ABITS), .ACCW(ACCW), .MULT_BITS(MULT_BITS), .OBITS(OBITS),
    .PW(PW), .TAW(TAW), .RAW(RAW), .OAW(OAW_P)
  ) u_post (
    .clk_i(clk_i), .rst_ni(rst_ni),
    .tile_issued_i(tile_issued), .tile_t_i(tile_t), .tile_out_base_i(tile_out_base),
    .tile_p0_i(tile_p0), .tile_ncols_i(tile_ncols),
    .res_valid_i(res_valid), .rd_row_o(rd_row), .rd_res_i(rd_res),
    .pm_raddr_o(pm_raddr), .m_rdata_i(m_rdata), .s_rdata_i(s_rdata), .rm_rdata_i(rm_rdata),
    .res_raddr_o(res_raddr), .res_rdata_i(res_rdata),
    .pix_end_i(d_pix_end[PW-1:0]), .y_zp_i(d_y_zp[OBITS:0]), .qmin_i(d_qmin[OBITS:0]),
    .qmax_i(d_qmax[OBITS:0]), .r_zp_i(d_r_zp[ABITS+1:0]), .res_en_i(res_en),
    .r_signed_i(r_signed),
    .out_we_o(out_we), .out_waddr_o(out_waddr), .out_wdata_o(out_wdata),
    .tile_written_o(tile_written)
  );

endmodule

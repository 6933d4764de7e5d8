// Pooling unit: max pooling and average pooling of C feature maps of H x W codes, read
// from memory through one read port, one window tap per cycle (arithmetic contract v1,
// t2c.ref._maxpool / _avgpool):
//
//   window (c, oh, ow), taps (i, j) in kh x kw:  y = oh*sh - ph + i*dh,  x = ow*sw - pw + j*dw
//   a tap is padding when y or x lies outside the map (0 <= y < H, 0 <= x < W)
//   max (avg_i = 0):  y = max over the window's real taps of x      (padding never wins)
//   avg (avg_i = 1):  acc = sum over the window of (x - zx)         (padding counts as 0)
//                     y = clip(((acc * m + (1 << (s - 1))) >>> s) + zy, qmin, qmax)
//                         = t2c.arith.requantize(acc, m, s, zy, qmin, qmax)  (rtl/requant.v)
//
// Output windows come out in order c, oh, ow (NCHW for one image; several images are more
// channels).  (m, s) is read per window from an external table (the second read port):
// entry p_base + c (per_window_i = 0: per channel, an ordinary AvgPool2d) or entry
// p_base + window number (per_window_i = 1: c*Ho*Wo + oh*Wo + ow, its own divisor per
// window, e.g. for adaptive average pooling with unequal windows).  The reads for a
// window's (m, s) and for its taps never depend on the data, so the host lays out the
// maps and the table freely (x_base, p_base).  Max pooling reads no table (m, s unused).
//
// A window whose taps are all padding gives the lowest input code (max) or
// requantize(0, ...) (avg); t2c/sim/units/pool.py refuses max-pool layers with such
// windows (the contract's max has no value there).  ho_i / wo_i are the output sizes
// floor((H + 2 ph - dh (kh - 1) - 1) / sh) + 1 (and the same for W), computed by the host.
//
// Parameters: IN_BITS input code width (>= 2); OUT_BITS output code width (max pooling
// outputs the input code: OUT_BITS >= IN_BITS, else y_o holds its low OUT_BITS + 1 bits);
// ACCW the window sum's width (>= IN_BITS + 3; the host checks kh*kw*max|x - zx| <=
// 2^(ACCW-1) - 1) and rtl/requant.v's ACCW; MULT_BITS, SHIFT_BITS the (m, s) fields
// (requant.v: m in [0, 2^(MULT_BITS-1)), MSB ignored; s exact over 1..2^SHIFT_BITS-1, s = 0
// outside the contract: clip(acc*m + zy, qmin, qmax)); DIMW the geometry fields' width
// (tap coordinates are DIMW + 2-bit signed: the host checks the largest one,
// (ho-1) sh - ph + (kh-1) dh, is below 2^(DIMW+1)); AW the address width (> DIMW).
//
// Descriptor (sampled with start_i while busy_o is low): avg_i, in_signed_i (input codes
// two's complement or unsigned), per_window_i; c_i, h_i, w_i, ho_i, wo_i, kh_i, kw_i,
// sh_i, sw_i, ph_i, pw_i, dh_i, dw_i (unsigned DIMW; all >= 1 except the paddings, which
// are < 2^DIMW too); x_base_i (tap (c, y, x) at x_base + c*H*W + y*W + x), p_base_i;
// zx_i signed IN_BITS + 1; zy_i, qmin_i, qmax_i signed OUT_BITS + 1 (every int and uint
// range).  Addresses wrap modulo 2^AW (the host keeps them in range).
//
// Read ports (a synchronous RAM each, data the cycle after the enable):
//   rd_en_o / rd_addr_o -> rd_data_i   one input code (IN_BITS) per real tap
//   p_en_o / p_addr_o -> m_i, s_i       one (m, s) per average window, with its last tap
// stall_i high: the ports are not ours this cycle, no tap is issued (the walk waits).
// Output: valid_o for one cycle per window with y_o (signed OUT_BITS + 1, in [qmin, qmax]
// for avg; the code for max), last_o with the job's last window.  No back-pressure.
//
// Timing: start_i in cycle T; taps issued in T+1 .. T+N without stalls (N = C*Ho*Wo*kh*kw,
// one per cycle, windows back to back); busy_o high from T+1 through the last tap's cycle
// t (low from t+1: the next start may come then); the window whose last tap is issued in
// cycle t is on y_o in cycle t + LATENCY, LATENCY = 5 (read 1, rtl/requant.v 4; max values
// travel a 4-register delay beside it).  So a job takes N + 1 cycles from start to its last
// tap; jobs follow at any distance (the output tail overlaps the next job's first taps).
// Walk: counters (c, oh, ow, i, j) and tap coordinates kept incrementally (y, x added
// dh / dw per tap, sh / sw per window); one multiplier y * W for the tap address and one
// H * W at start.  Two-block state machine (*_d next state, *_q registers, all reset).
module pool #(
  parameter integer IN_BITS    = 8,
  parameter integer OUT_BITS   = 8,
  parameter integer ACCW       = 32,
  parameter integer MULT_BITS  = 32,
  parameter integer SHIFT_BITS = 6,
  parameter integer DIMW       = 16,
  parameter integer AW         = 32
) (
  input  wire                   clk_i,
  input  wire                   rst_ni,
  input  wire                   start_i,
  input  wire                   avg_i,
  input  wire                   in_signed_i,
  input  wire                   per_window_i,
  input  wire [DIMW-1:0]        c_i,
  input  wire [DIMW-1:0]        h_i,
  input  wire [DIMW-1:0]        w_i,
  input  wire [DIMW-1:0]        ho_i,
  input  wire [DIMW-1:0]        wo_i,
  input  wire [DIMW-1:0]        kh_i,
  input  wire [DIMW-1:0]        kw_i,
  input  wire [DIMW-1:0]        sh_i,
  input  wire [DIMW-1:0]        sw_i,
  input  wire [DIMW-1:0]        ph_i,
  input  wire [DIMW-1:0]        pw_i,
  input  wire [DIMW-1:0]        dh_i,
  input  wire [DIMW-1:0]        dw_i,
  input  wire [AW-1:0]          x_base_i,
  input  wire [AW-1:0]          p_base_i,
  input  wire signed [IN_BITS:0]  zx_i,
  input  wire signed [OUT_BITS:0] zy_i,
  input  wire signed [OUT_BITS:0] qmin_i,
  input  wire signed [OUT_BITS:0] qmax_i,
  output wire                   busy_o,
  input  wire                   stall_i,
  output wire                   rd_en_o,
  output wire [AW-1:0]          rd_addr_o,
  input  wire [IN_BITS-1:0]     rd_data_i,
  output wire                   p_en_o,
  output wire [AW-1:0]          p_addr_o,
  input  wire [MULT_BITS-1:0]   m_i,
  input  wire [SHIFT_BITS-1:0]  s_i,
  output wire                   valid_o,
  output wire                   last_o,
  output wire [OUT_BITS:0]      y_o
);

  localparam integer PW  = DIMW + 2;                 // tap coordinates, signed: -pad .. H + pad
  localparam integer XW  = IN_BITS + 1;              // codes, signed
  localparam integer DW  = IN_BITS + 2;              // x - zx
  localparam integer QW  = OUT_BITS + 1;
  localparam integer MXW = ((XW > QW) ? XW : QW) + 1;  // a max value, sign-extended
  localparam integer HWW = (AW > 2 * DIMW) ? AW : 2 * DIMW;  // y * W, H * W (then AW bits)

  // ---------------------------------------------------------------- registers
  reg              run_q, run_d;
  reg              avg_q, avg_d, sgn_q, sgn_d, pwin_q, pwin_d;
  reg [DIMW-1:0]   cn_q, cn_d, h_q, h_d, w_q, w_d, ho_q, ho_d, wo_q, wo_d;
  reg [DIMW-1:0]   kh_q, kh_d, kw_q, kw_d, sh_q, sh_d, sw_q, sw_d;
  reg [DIMW-1:0]   ph_q, ph_d, pw_q, pw_d, dh_q, dh_d, dw_q, dw_d;
  reg [AW-1:0]     xb_q, xb_d, pb_q, pb_d, hw_q, hw_d;
  reg signed [XW-1:0] zx_q, zx_d;
  reg [QW-1:0]     zy_q, zy_d, qmin_q, qmin_d, qmax_q, qmax_d;
  reg [DIMW-1:0]   c_q, c_d, oh_q, oh_d, ow_q, ow_d, i_q, i_d, j_q, j_d;
  reg signed [PW-1:0] y0_q, y0_d, x0_q, x0_d, yi_q, yi_d, xj_q, xj_d;   // window origin, tap
  reg [AW-1:0]     cbase_q, cbase_d, win_q, win_d;
  // the tap issued last cycle (its data is on rd_data_i now)
  reg              tv_q, tv_d, tpad_q, tpad_d, tfirst_q, tfirst_d, tlast_q, tlast_d, tend_q, tend_d;
  reg signed [XW-1:0]   mx_q, mx_d;    // running max of the window
  reg signed [ACCW-1:0] acc_q, acc_d;  // running sum of the window
  // beside rtl/requant.v's 4 stages: the max value, avg_q and the job's last window
  reg signed [XW-1:0]   md1_q, md2_q, md3_q, md4_q;
  reg                   a1_q, a2_q, a3_q, a4_q, l1_q, l2_q, l3_q, l4_q;

  // ---------------------------------------------------------------- walk
  wire issue = run_q && !stall_i;
  reg  last_j, last_i, last_ow, last_oh, last_c, win_end, job_end, pad;
  reg signed [PW-1:0] hs, ws, sh_s, sw_s, dh_s, dw_s, ph_s, pw_s;
  /* verilator lint_off UNUSEDSIGNAL */
  reg [HWW-1:0]       yw;   // the low AW bits are the row's offset
  /* verilator lint_on UNUSEDSIGNAL */
  always @(*) begin
    last_j  = ({1'b0, j_q} + 1'b1 == {1'b0, kw_q});
    last_i  = ({1'b0, i_q} + 1'b1 == {1'b0, kh_q});
    last_ow = ({1'b0, ow_q} + 1'b1 == {1'b0, wo_q});
    last_oh = ({1'b0, oh_q} + 1'b1 == {1'b0, ho_q});
    last_c  = ({1'b0, c_q} + 1'b1 == {1'b0, cn_q});
    win_end = last_i && last_j;
    job_end = win_end && last_ow && last_oh && last_c;
    hs   = $signed({2'b00, h_q});
    ws   = $signed({2'b00, w_q});
    sh_s = $signed({2'b00, sh_q});
    sw_s = $signed({2'b00, sw_q});
    dh_s = $signed({2'b00, dh_q});
    dw_s = $signed({2'b00, dw_q});
    ph_s = $signed({2'b00, ph_q});
    pw_s = $signed({2'b00, pw_q});
    pad  = yi_q[PW-1] || (yi_q >= hs) || xj_q[PW-1] || (xj_q >= ws);
    yw   = {{(HWW-DIMW){1'b0}}, yi_q[DIMW-1:0]} * {{(HWW-DIMW){1'b0}}, w_q};  // real taps: 0 <= y < H
  end

  assign rd_en_o   = issue && !pad;
  assign rd_addr_o = xb_q + cbase_q + yw[AW-1:0] + {{(AW-DIMW){1'b0}}, xj_q[DIMW-1:0]};
  assign p_en_o    = issue && win_end && avg_q;   // max pooling reads no table
  assign p_addr_o  = pb_q + (pwin_q ? win_q : {{(AW-DIMW){1'b0}}, c_q});
  assign busy_o    = run_q;

  // ---------------------------------------------------------------- reduce (the tap's data)
  reg signed [XW-1:0] xs, lowest;
  reg signed [DW-1:0] d;
  always @(*) begin
    xs     = $signed({sgn_q & rd_data_i[IN_BITS-1], rd_data_i});
    lowest = sgn_q ? $signed({2'b11, {(IN_BITS-1){1'b0}}}) : {XW{1'b0}};
    d      = $signed({xs[XW-1], xs}) - $signed({zx_q[XW-1], zx_q});
  end
  wire rq_valid = tv_q && tlast_q;

  /* verilator lint_off UNUSEDSIGNAL */
  reg [HWW-1:0] hwp;   // H * W; the low AW bits are the channel stride
  /* verilator lint_on UNUSEDSIGNAL */
  always @(*) begin
    hwp = {{(HWW-DIMW){1'b0}}, h_i} * {{(HWW-DIMW){1'b0}}, w_i};
  end

  // ---------------------------------------------------------------- next state
  always @(*) begin
    run_d = run_q;
    avg_d = avg_q;  sgn_d = sgn_q;  pwin_d = pwin_q;
    cn_d = cn_q;  h_d = h_q;  w_d = w_q;  ho_d = ho_q;  wo_d = wo_q;
    kh_d = kh_q;  kw_d = kw_q;  sh_d = sh_q;  sw_d = sw_q;
    ph_d = ph_q;  pw_d = pw_q;  dh_d = dh_q;  dw_d = dw_q;
    xb_d = xb_q;  pb_d = pb_q;  hw_d = hw_q;
    zx_d = zx_q;  zy_d = zy_q;  qmin_d = qmin_q;  qmax_d = qmax_q;
    c_d = c_q;  oh_d = oh_q;  ow_d = ow_q;  i_d = i_q;  j_d = j_q;
    y0_d = y0_q;  x0_d = x0_q;  yi_d = yi_q;  xj_d = xj_q;
    cbase_d = cbase_q;  win_d = win_q;
    tv_d     = issue;
    tpad_d   = pad;
    tfirst_d = (i_q == {DIMW{1'b0}}) && (j_q == {DIMW{1'b0}});
    tlast_d  = win_end;
    tend_d   = job_end;
    mx_d  = mx_q;
    acc_d = acc_q;
    if (tv_q) begin    // fold the tap of last cycle into its window
      if (tfirst_q) begin
        mx_d  = tpad_q ? lowest : xs;
        acc_d = tpad_q ? {ACCW{1'b0}} : {{(ACCW-DW){d[DW-1]}}, d};
      end else begin
        mx_d  = (!tpad_q && (xs > mx_q)) ? xs : mx_q;
        acc_d = acc_q + (tpad_q ? {ACCW{1'b0}} : {{(ACCW-DW){d[DW-1]}}, d});
      end
    end
    if (!run_q) begin
      if (start_i) begin   // sample the descriptor, the walk starts at tap (0, 0, 0, 0, 0)
        run_d  = 1'b1;
        avg_d  = avg_i;  sgn_d = in_signed_i;  pwin_d = per_window_i;
        cn_d = c_i;  h_d = h_i;  w_d = w_i;  ho_d = ho_i;  wo_d = wo_i;
        kh_d = kh_i;  kw_d = kw_i;  sh_d = sh_i;  sw_d = sw_i;
        ph_d = ph_i;  pw_d = pw_i;  dh_d = dh_i;  dw_d = dw_i;
        xb_d = x_base_i;  pb_d = p_base_i;
        hw_d = hwp[AW-1:0];
        zx_d = zx_i;  zy_d = zy_i;  qmin_d = qmin_i;  qmax_d = qmax_i;
        c_d = {DIMW{1'b0}};  oh_d = {DIMW{1'b0}};  ow_d = {DIMW{1'b0}};
        i_d = {DIMW{1'b0}};  j_d = {DIMW{1'b0}};
        y0_d = -$signed({2'b00, ph_i});
        x0_d = -$signed({2'b00, pw_i});
        yi_d = -$signed({2'b00, ph_i});
        xj_d = -$signed({2'b00, pw_i});
        cbase_d = {AW{1'b0}};
        win_d   = {AW{1'b0}};
      end
    end else if (issue) begin   // advance to the next tap
      if (!last_j) begin
        j_d  = j_q + 1'b1;
        xj_d = xj_q + dw_s;
      end else if (!last_i) begin   // next tap row of the window
        j_d  = {DIMW{1'b0}};
        i_d  = i_q + 1'b1;
        xj_d = x0_q;
        yi_d = yi_q + dh_s;
      end else begin                // next window
        j_d   = {DIMW{1'b0}};
        i_d   = {DIMW{1'b0}};
        win_d = win_q + 1'b1;
        if (!last_ow) begin
          ow_d = ow_q + 1'b1;
          x0_d = x0_q + sw_s;
          xj_d = x0_q + sw_s;
          yi_d = y0_q;
        end else begin
          ow_d = {DIMW{1'b0}};
          x0_d = -pw_s;
          xj_d = -pw_s;
          if (!last_oh) begin
            oh_d = oh_q + 1'b1;
            y0_d = y0_q + sh_s;
            yi_d = y0_q + sh_s;
          end else begin             // next channel (or the job's end)
            oh_d    = {DIMW{1'b0}};
            y0_d    = -ph_s;
            yi_d    = -ph_s;
            c_d     = c_q + 1'b1;
            cbase_d = cbase_q + hw_q;
            if (last_c) begin
              run_d = 1'b0;
            end
          end
        end
      end
    end
  end

  always @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      run_q <= 1'b0;
      avg_q <= 1'b0;  sgn_q <= 1'b0;  pwin_q <= 1'b0;
      cn_q <= {DIMW{1'b0}};  h_q <= {DIMW{1'b0}};  w_q <= {DIMW{1'b0}};
      ho_q <= {DIMW{1'b0}};  wo_q <= {DIMW{1'b0}};
      kh_q <= {DIMW{1'b0}};  kw_q <= {DIMW{1'b0}};  sh_q <= {DIMW{1'b0}};  sw_q <= {DIMW{1'b0}};
      ph_q <= {DIMW{1'b0}};  pw_q <= {DIMW{1'b0}};  dh_q <= {DIMW{1'b0}};  dw_q <= {DIMW{1'b0}};
      xb_q <= {AW{1'b0}};  pb_q <= {AW{1'b0}};  hw_q <= {AW{1'b0}};
      zx_q <= {XW{1'b0}};  zy_q <= {QW{1'b0}};  qmin_q <= {QW{1'b0}};  qmax_q <= {QW{1'b0}};
      c_q <= {DIMW{1'b0}};  oh_q <= {DIMW{1'b0}};  ow_q <= {DIMW{1'b0}};
      i_q <= {DIMW{1'b0}};  j_q <= {DIMW{1'b0}};
      y0_q <= {PW{1'b0}};  x0_q <= {PW{1'b0}};  yi_q <= {PW{1'b0}};  xj_q <= {PW{1'b0}};
      cbase_q <= {AW{1'b0}};  win_q <= {AW{1'b0}};
      tv_q <= 1'b0;  tpad_q <= 1'b0;  tfirst_q <= 1'b0;  tlast_q <= 1'b0;  tend_q <= 1'b0;
      mx_q <= {XW{1'b0}};  acc_q <= {ACCW{1'b0}};
      md1_q <= {XW{1'b0}};  md2_q <= {XW{1'b0}};  md3_q <= {XW{1'b0}};  md4_q <= {XW{1'b0}};
      a1_q <= 1'b0;  a2_q <= 1'b0;  a3_q <= 1'b0;  a4_q <= 1'b0;
      l1_q <= 1'b0;  l2_q <= 1'b0;  l3_q <= 1'b0;  l4_q <= 1'b0;
    end else begin
      run_q <= run_d;
      avg_q <= avg_d;  sgn_q <= sgn_d;  pwin_q <= pwin_d;
      cn_q <= cn_d;  h_q <= h_d;  w_q <= w_d;  ho_q <= ho_d;  wo_q <= wo_d;
      kh_q <= kh_d;  kw_q <= kw_d;  sh_q <= sh_d;  sw_q <= sw_d;
      ph_q <= ph_d;  pw_q <= pw_d;  dh_q <= dh_d;  dw_q <= dw_d;
      xb_q <= xb_d;  pb_q <= pb_d;  hw_q <= hw_d;
      zx_q <= zx_d;  zy_q <= zy_d;  qmin_q <= qmin_d;  qmax_q <= qmax_d;
      c_q <= c_d;  oh_q <= oh_d;  ow_q <= ow_d;  i_q <= i_d;  j_q <= j_d;
      y0_q <= y0_d;  x0_q <= x0_d;  yi_q <= yi_d;  xj_q <= xj_d;
      cbase_q <= cbase_d;  win_q <= win_d;
      tv_q <= tv_d;  tpad_q <= tpad_d;  tfirst_q <= tfirst_d;  tlast_q <= tlast_d;  tend_q <= tend_d;
      mx_q <= mx_d;  acc_q <= acc_d;
      md1_q <= mx_d;  md2_q <= md1_q;  md3_q <= md2_q;  md4_q <= md3_q;
      a1_q <= avg_q;  a2_q <= a1_q;  a3_q <= a2_q;  a4_q <= a3_q;
      l1_q <= rq_valid && tend_q;  l2_q <= l1_q;  l3_q <= l2_q;  l4_q <= l3_q;
    end
  end

  // ---------------------------------------------------------------- requantize (avg)
  wire [QW-1:0] rq_y;
  requant #(
    .LANES(1), .ACCW(ACCW), .MULT_BITS(MULT_BITS), .SHIFT_BITS(SHIFT_BITS), .OUTW(QW), .ADD_BITS(0)
  ) u_rq (
    .clk_i(clk_i), .rst_ni(rst_ni), .valid_i(rq_valid), .acc_i(acc_d), .m_i(m_i), .s_i(s_i),
    .zp_i(zy_q), .qmin_i(qmin_q), .qmax_i(qmax_q), .add_i(1'b0), .valid_o(valid_o), .y_o(rq_y)
  );

  /* verilator lint_off UNUSEDSIGNAL */
  reg signed [MXW-1:0] mext;   // max value, sign-extended; its low QW bits are the output
  /* verilator lint_on UNUSEDSIGNAL */
  always @(*) begin
    mext = {{(MXW-XW){md4_q[XW-1]}}, md4_q};
  end
  assign y_o    = a4_q ? rq_y : mext[QW-1:0];
  assign last_o = l4_q;

endmodule

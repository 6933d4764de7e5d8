// Output-pixel walker of the layer engine: streams the output pixels of a layer in
// raster order (p = oh * OUT_W + ow) with the origin of each one's input window.
//
// For output pixel (oh, ow):
//   ih0  = oh * stride_h - pad_h          (input row of kernel tap kh = 0)
//   iw0  = ow * stride_w - pad_w          (input column of kernel tap kw = 0)
//   base = ih0 * in_w + iw0               (word offset of that tap in a channel tile)
// all computed incrementally (adds only; the descriptor carries stride_h * in_w and
// base0 = -pad_h * in_w - pad_w), and valid = p < pix_end.
//
//   restart_i  back to pixel 0 at the next edge (start of a run)
//   step_i     advance one pixel at the next edge
// Outputs are registers: the current pixel.
module engine_pixwalk #(
  parameter integer PW = 24  // signed width of positions and offsets
) (
  input  wire          clk_i,
  input  wire          rst_ni,
  input  wire          restart_i,
  input  wire          step_i,
  input  wire [PW-1:0] out_w_i,
  input  wire [PW-1:0] pix_end_i,
  input  wire [PW-1:0] stride_h_i,
  input  wire [PW-1:0] stride_w_i,
  input  wire [PW-1:0] pad_h_i,
  input  wire [PW-1:0] pad_w_i,
  input  wire [PW-1:0] stride_h_in_w_i,
  input  wire [PW-1:0] base0_i,
  output wire [PW-1:0] p_o,
  output wire [PW-1:0] ih0_o,
  output wire [PW-1:0] iw0_o,
  output wire [PW-1:0] base_o,
  output wire          valid_o
);

  reg [PW-1:0] p_q, ow_q, ih0_q, iw0_q, base_q, rowbase_q;
  reg [PW-1:0] rowbase_n;

  always @(*) begin
    rowbase_n = rowbase_q + stride_h_in_w_i;
  end

  always @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      p_q       <= {PW{1'b0}};
      ow_q      <= {PW{1'b0}};
      ih0_q     <= {PW{1'b0}};
      iw0_q     <= {PW{1'b0}};
      base_q    <= {PW{1'b0}};
      rowbase_q <= {PW{1'b0}};
    end else if (restart_i) begin
      p_q       <= {PW{1'b0}};
      ow_q      <= {PW{1'b0}};
      ih0_q     <= {PW{1'b0}} - pad_h_i;
      iw0_q     <= {PW{1'b0}} - pad_w_i;
      base_q    <= base0_i;
      rowbase_q <= base0_i;
    end else if (step_i) begin
      p_q <= p_q + 1'b1;
      if (ow_q == out_w_i - 1'b1) begin  // next output row
        ow_q      <= {PW{1'b0}};
        ih0_q     <= ih0_q + stride_h_i;
        iw0_q     <= {PW{1'b0}} - pad_w_i;
        rowbase_q <= rowbase_n;
        base_q    <= rowbase_n;
      end else begin
        ow_q   <= ow_q + 1'b1;
        iw0_q  <= iw0_q + stride_w_i;
        base_q <= base_q + stride_w_i;
      end
    end
  end

  assign p_o     = p_q;
  assign ih0_o   = ih0_q;
  assign iw0_o   = iw0_q;
  assign base_o  = base_q;
  assign valid_o = (p_q < pix_end_i);

endmodule

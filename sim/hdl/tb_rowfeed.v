// Issue side of the row-serial wrappers (tb_softmax, tb_layernorm): like tb_feed, but
// a valid/ready source register and row tracking.  NVEC elements, in order, rows back
// to back; row r holds n_i elements (n_i: the row length read at row_o).
//
// idx_o is the index of the next element and row_o its row: address the element and
// row tb_image read ports with them and bring their reads (concatenated, WIDTH bits)
// to data_i and the row's length to n_i.  The register (valid_o, data_o) is refilled
// when it is empty or the DUT takes it (ready_i); a refill issues element idx_o unless
// tb_harness asks for a bubble (gap_i) or all NVEC are issued.  Drive the DUT's
// valid_i and operands from valid_o and data_o, its ready_o to ready_i.
module tb_rowfeed #(
  parameter integer NVEC  = 1,
  parameter integer WIDTH = 8,
  parameter integer NW    = 8
) (
  input  wire             clk_i,
  input  wire             rst_ni,
  input  wire             gap_i,
  input  wire             ready_i,
  output reg  [31:0]      idx_o,
  output reg  [31:0]      row_o,
  input  wire [NW-1:0]    n_i,
  input  wire [WIDTH-1:0] data_i,
  output reg              valid_o,
  output reg  [WIDTH-1:0] data_o
);

  reg  [31:0] col;
  wire        refill = !valid_o || ready_i;
  wire        take   = refill && !gap_i && (idx_o < NVEC);
  always @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      valid_o <= 1'b0;
      data_o  <= {WIDTH{1'b0}};
      idx_o   <= 32'd0;
      row_o   <= 32'd0;
      col     <= 32'd0;
    end else if (refill) begin
      valid_o <= take;
      data_o  <= data_i;
      if (take) begin
        idx_o <= idx_o + 32'd1;
        if (col + 32'd1 == {{(32-NW){1'b0}}, n_i}) begin
          col   <= 32'd0;
          row_o <= row_o + 32'd1;
        end else begin
          col <= col + 32'd1;
        end
      end
    end
  end

endmodule

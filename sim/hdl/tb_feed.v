// Issue side of the memory-driven wrappers: NVEC operand vectors, in order, one per
// cycle except in tb_harness's bubble cycles (gap_i).
//
// idx_o is the index of the next vector: address the tb_image read ports with it and
// bring their reads (concatenated, WIDTH bits) to data_i.  Every cycle data_o loads
// data_i (like a synchronous RAM read port: one event per cycle, which keeps Icarus
// fast) and valid_o says whether that was vector idx_o being issued; once NVEC
// vectors are issued valid_o stays low.  Drive the DUT's valid_i and operands from
// valid_o and data_o.
module tb_feed #(
  parameter integer NVEC  = 1,
  parameter integer WIDTH = 8
) (
  input  wire             clk_i,
  input  wire             rst_ni,
  input  wire             gap_i,
  output reg  [31:0]      idx_o,
  input  wire [WIDTH-1:0] data_i,
  output reg              valid_o,
  output reg  [WIDTH-1:0] data_o
);

  wire take = rst_ni && !gap_i && (idx_o < NVEC);
  always @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      idx_o   <= 32'd0;
      valid_o <= 1'b0;
      data_o  <= {WIDTH{1'b0}};
    end else begin
      if (take) begin
        idx_o <= idx_o + 32'd1;
      end
      valid_o <= take;
      data_o  <= data_i;
    end
  end

endmodule

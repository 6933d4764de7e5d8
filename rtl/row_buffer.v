// Row buffer of the row-serial units (rtl/softmax.v, rtl/layernorm.v): 2^AW words of
// WIDTH bits, one write port and one registered read port.
//
//   write: wd_i is stored at wa_i on a rising edge with we_i high (no reset: the
//          units only read words written earlier in the same row)
//   read:  rd_o loads the word at ra_i on a rising edge with re_i high and holds it
//          otherwise (reset to 0); a read and a write of the same address in one
//          cycle return the old word
module row_buffer #(
  parameter integer WIDTH = 8,
  parameter integer AW    = 1
) (
  input  wire             clk_i,
  input  wire             rst_ni,
  input  wire             we_i,
  input  wire [AW-1:0]    wa_i,
  input  wire [WIDTH-1:0] wd_i,
  input  wire             re_i,
  input  wire [AW-1:0]    ra_i,
  output reg  [WIDTH-1:0] rd_o
);

  localparam integer DEPTH = 1 << AW;

  reg [WIDTH-1:0] mem [0:DEPTH-1];
  always @(posedge clk_i) begin
    if (we_i) begin
      mem[wa_i] <= wd_i;
    end
  end
  always @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      rd_o <= {WIDTH{1'b0}};
    end else if (re_i) begin
      rd_o <= mem[ra_i];
    end
  end

endmodule

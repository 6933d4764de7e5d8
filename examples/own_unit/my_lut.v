// An example accelerator unit with its own ports and memory layout (not t2c's):
// a streaming lookup table for a non-linear function, with
//   - valid/ready input and output handshakes named the way this design names them
//     (in_valid/in_ready/in_code, out_valid/out_value), active-low reset `rst_n`;
//   - its table addressed by the input code's raw bits (two's complement address for
//     signed codes), where t2c's rtl/lut_layer.v indexes by x - x_qmin;
//   - two pipeline stages (address register, then the registered table read).
// t2c verifies it against the integer reference with a thin wrapper (tb_my_lut.v) and
// a layout description (my_lut_unit.py) only: docs/testbench.md, "Verify your own
// accelerator".
module my_lut #(
  parameter integer CODE_BITS  = 8,
  parameter integer VALUE_BITS = 8,
  parameter         TABLE      = ""
) (
  input  wire                  clk,
  input  wire                  rst_n,
  input  wire                  in_valid,
  output wire                  in_ready,
  input  wire [CODE_BITS-1:0]  in_code,
  output reg                   out_valid,
  output reg  [VALUE_BITS-1:0] out_value
);

  reg [VALUE_BITS-1:0] table_mem [0:(1<<CODE_BITS)-1] /* verilator public_flat_rd */;
  initial begin
    $readmemh(TABLE, table_mem);
  end

  reg                 addr_valid;
  reg [CODE_BITS-1:0] addr;
  always @(posedge clk or negedge rst_n) begin
    if (!rst_n) begin
      addr_valid <= 1'b0;
      addr       <= {CODE_BITS{1'b0}};
      out_valid  <= 1'b0;
      out_value  <= {VALUE_BITS{1'b0}};
    end else begin
      addr_valid <= in_valid;
      if (in_valid) begin
        addr <= in_code;
      end
      out_valid <= addr_valid;
      if (addr_valid) begin
        out_value <= table_mem[addr];
      end
    end
  end
  assign in_ready = 1'b1;

endmodule

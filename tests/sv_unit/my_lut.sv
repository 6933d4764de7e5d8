// examples/own_unit/my_lut.v written in SystemVerilog (logic, always_ff, '0): found on the
// RTL search path as my_lut.sv and compiled as SystemVerilog (Verilator; Icarus -g2012).
module my_lut #(
  parameter int CODE_BITS  = 8,
  parameter int VALUE_BITS = 8,
  parameter     TABLE      = ""
) (
  input  logic                  clk,
  input  logic                  rst_n,
  input  logic                  in_valid,
  output logic                  in_ready,
  input  logic [CODE_BITS-1:0]  in_code,
  output logic                  out_valid,
  output logic [VALUE_BITS-1:0] out_value
);

  logic [VALUE_BITS-1:0] table_mem [2**CODE_BITS] /* verilator public_flat_rd */;
  initial $readmemh(TABLE, table_mem);

  logic                 addr_valid;
  logic [CODE_BITS-1:0] addr;
  always_ff @(posedge clk or negedge rst_n) begin
    if (!rst_n) begin
      addr_valid <= 1'b0;
      addr       <= '0;
      out_valid  <= 1'b0;
      out_value  <= '0;
    end else begin
      addr_valid <= in_valid;
      if (in_valid) addr <= in_code;
      out_valid <= addr_valid;
      if (addr_valid) out_value <= table_mem[addr];
    end
  end
  assign in_ready = 1'b1;

endmodule

// Modbus RTU bus on UART2 through an RS485 transceiver (MAX485-style) whose DE/RE pins are tied
// together to one GPIO: high while sending, low to listen.
#pragma once
#include <HardwareSerial.h>

#include "tds_modbus.h"

class Rs485Port : public tds::RtuPort {
 public:
  Rs485Port(HardwareSerial& serial, int rxPin, int txPin, int dePin) : s_(serial), rx_(rxPin), tx_(txPin), de_(dePin) {}
  // (Re)opens the UART with the configuration's baud rate, parity and stop bits.
  void begin(const tds::ModbusConfig& c);
  std::vector<uint8_t> transact(const std::vector<uint8_t>& req, size_t expected, uint32_t timeoutMs) override;

 private:
  HardwareSerial& s_;
  int rx_, tx_, de_;
  uint32_t baud_ = 0;
  char parity_ = 0;
  uint8_t stop_ = 0;
};

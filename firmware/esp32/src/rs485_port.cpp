#include "rs485_port.h"

#include <Arduino.h>
#include <esp_task_wdt.h>

void Rs485Port::begin(const tds::ModbusConfig& c) {
  if (c.baud == baud_ && c.parity == parity_ && c.stopBits == stop_) return;
  uint32_t mode = SERIAL_8N1;
  if (c.parity == 'E') mode = c.stopBits == 2 ? SERIAL_8E2 : SERIAL_8E1;
  else if (c.parity == 'O') mode = c.stopBits == 2 ? SERIAL_8O2 : SERIAL_8O1;
  else if (c.stopBits == 2) mode = SERIAL_8N2;
  s_.end();
  s_.begin(c.baud, mode, rx_, tx_);
  pinMode(de_, OUTPUT);
  digitalWrite(de_, LOW);
  baud_ = c.baud;
  parity_ = c.parity;
  stop_ = c.stopBits;
}

std::vector<uint8_t> Rs485Port::transact(const std::vector<uint8_t>& req, size_t expected, uint32_t timeoutMs) {
  std::vector<uint8_t> resp;
  if (baud_ == 0) return resp;
  while (s_.available()) s_.read();
  digitalWrite(de_, HIGH);
  s_.write(req.data(), req.size());
  s_.flush();  // waits until the last stop bit left the UART
  digitalWrite(de_, LOW);
  const uint32_t start = millis();
  while (resp.size() < expected && millis() - start < timeoutMs) {
    if (resp.size() >= 5 && (resp[1] & 0x80)) break;  // exception reply is 5 bytes
    while (s_.available() && resp.size() < expected) resp.push_back(static_cast<uint8_t>(s_.read()));
    esp_task_wdt_reset();
    delay(1);
  }
  return resp;
}

// Improv Wi-Fi serial protocol codec (https://www.improv-wifi.com/serial/, as sdk-serial-js speaks it):
//   "IMPROV" | version 0x01 | type | len | data[len] | checksum (sum of all previous bytes & 0xFF)
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace tds {
namespace improv {

constexpr uint8_t kVersion = 0x01;
constexpr size_t kHeaderLen = 9;  // "IMPROV" + version + type + len

enum Type : uint8_t { CURRENT_STATE = 0x01, ERROR_STATE = 0x02, RPC = 0x03, RPC_RESULT = 0x04 };
enum State : uint8_t { STATE_STOPPED = 0x00, STATE_READY = 0x02, STATE_PROVISIONING = 0x03, STATE_PROVISIONED = 0x04 };
enum Error : uint8_t {
  ERROR_NONE = 0x00,
  ERROR_INVALID_RPC = 0x01,
  ERROR_UNKNOWN_RPC = 0x02,
  ERROR_UNABLE_TO_CONNECT = 0x03,
  ERROR_BAD_HOSTNAME = 0x05,
  ERROR_TIMEOUT = 0xFE,
  ERROR_UNKNOWN = 0xFF,
};
enum Command : uint8_t {
  SEND_WIFI_SETTINGS = 0x01,
  REQUEST_CURRENT_STATE = 0x02,
  REQUEST_INFO = 0x03,
  REQUEST_WIFI_NETWORKS = 0x04,
};

std::vector<uint8_t> frame(uint8_t type, const std::vector<uint8_t>& data);
std::vector<uint8_t> currentState(State s);
std::vector<uint8_t> errorState(Error e);
// RPC_RESULT: [command, total_len, (len, utf8)...]
std::vector<uint8_t> rpcResult(uint8_t command, const std::vector<std::string>& strings);

struct Packet {
  uint8_t type = 0;
  std::vector<uint8_t> data;
};

enum class ParseStatus { ok, need_more, bad_header, bad_checksum };
// Parses one packet at the start of buf; `consumed` = bytes used (also for bad packets).
ParseStatus parse(const uint8_t* buf, size_t len, Packet& out, size_t& consumed);

struct Rpc {
  uint8_t command = 0;
  std::vector<uint8_t> payload;
  std::string ssid, password;  // SEND_WIFI_SETTINGS
};
// Decodes the data of an RPC packet: [command, len, payload...]; false when malformed.
bool decodeRpc(const std::vector<uint8_t>& data, Rpc& out);

}  // namespace improv
}  // namespace tds

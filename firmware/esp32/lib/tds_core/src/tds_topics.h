// MQTT contract (the same as server/src/contract/topics.ts): topics, payloads, command parsing.
#pragma once
#include <cstddef>
#include <string>

namespace tds {

constexpr const char* kTopicRoot = "tds_new/devices";
constexpr const char* kStatusOnline = "online";
constexpr const char* kStatusOffline = "offline";

// kind: telemetry, status, logs, commands, cert/csr, cert/ack
std::string deviceTopic(const std::string& mac, const char* kind);

struct Telemetry {
  std::string timestamp;  // ISO 8601 UTC; empty while the clock is not set: left out, the server dates it
  double valor = 0;
  std::string unidade;
  std::string gatewayMac;
  std::string firmwareVersion;
  int slaveId = -1;   // omitted when < 0
  long reg = -1;      // omitted when < 0
};
std::string telemetryJson(const Telemetry& t);

enum class CommandKind { ping, reboot, cert_renew, cert_update, unknown };

struct Command {
  CommandKind kind = CommandKind::unknown;
  std::string cmd, id;
  std::string certificatePem, caPem, serialNumber;  // cert_update
};

// Parses `{cmd, id, ...}`; false (with err) when the payload is not a command object.
bool parseCommand(const char* payload, size_t len, Command& out, std::string& err);

std::string csrJson(const std::string& id, const std::string& csrPem);
std::string ackJson(const std::string& id, const std::string& serialNumber);
// A JSON line for the logs topic: {"event": ..., "id"?: ..., <extra fields already JSON-encoded>}.
std::string logEventJson(const std::string& event, const std::string& id, const std::string& detail);

}  // namespace tds

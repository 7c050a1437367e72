#include "tds_topics.h"

#include <cstring>

#include "cJSON.h"
#include "tds_json.h"

namespace tds {

std::string deviceTopic(const std::string& mac, const char* kind) {
  return std::string(kTopicRoot) + "/" + mac + "/" + kind;
}

std::string telemetryJson(const Telemetry& t) {
  Json o(cJSON_CreateObject());
  if (!t.timestamp.empty()) cJSON_AddStringToObject(o.get(), "timestamp", t.timestamp.c_str());
  cJSON_AddNumberToObject(o.get(), "valor", t.valor);
  cJSON_AddStringToObject(o.get(), "unidade", t.unidade.c_str());
  cJSON_AddStringToObject(o.get(), "gateway_mac", t.gatewayMac.c_str());
  if (!t.firmwareVersion.empty()) cJSON_AddStringToObject(o.get(), "firmware_version", t.firmwareVersion.c_str());
  if (t.slaveId >= 0) cJSON_AddNumberToObject(o.get(), "slave_id", t.slaveId);
  if (t.reg >= 0) cJSON_AddNumberToObject(o.get(), "register", t.reg);
  return o.print();
}

bool parseCommand(const char* payload, size_t len, Command& out, std::string& err) {
  out = Command{};
  const std::string text(payload, len);  // cJSON_ParseWithLength is newer than ESP-IDF 4.4's cJSON
  Json o(cJSON_Parse(text.c_str()));
  if (!o || !cJSON_IsObject(o.get())) {
    err = "command is not a JSON object";
    return false;
  }
  out.cmd = o.str("cmd");
  out.id = o.str("id");
  if (out.cmd.empty()) {
    err = "command has no cmd";
    return false;
  }
  // Numeric ids are tolerated and kept as text.
  const cJSON* id = cJSON_GetObjectItemCaseSensitive(o.get(), "id");
  if (cJSON_IsNumber(id)) out.id = std::to_string(static_cast<long long>(id->valuedouble));
  if (out.cmd == "ping") out.kind = CommandKind::ping;
  else if (out.cmd == "reboot") out.kind = CommandKind::reboot;
  else if (out.cmd == "cert_renew") out.kind = CommandKind::cert_renew;
  else if (out.cmd == "cert_update") {
    out.kind = CommandKind::cert_update;
    out.certificatePem = o.str("certificate_pem");
    out.caPem = o.str("ca_pem");
    out.serialNumber = o.str("serial_number");
    if (out.certificatePem.empty()) {
      err = "cert_update without certificate_pem";
      return false;
    }
  }
  return true;
}

std::string csrJson(const std::string& id, const std::string& csrPem) {
  Json o(cJSON_CreateObject());
  cJSON_AddStringToObject(o.get(), "id", id.c_str());
  cJSON_AddStringToObject(o.get(), "csr_pem", csrPem.c_str());
  return o.print();
}

std::string ackJson(const std::string& id, const std::string& serialNumber) {
  Json o(cJSON_CreateObject());
  cJSON_AddStringToObject(o.get(), "id", id.c_str());
  cJSON_AddStringToObject(o.get(), "serial_number", serialNumber.c_str());
  return o.print();
}

std::string logEventJson(const std::string& event, const std::string& id, const std::string& detail) {
  Json o(cJSON_CreateObject());
  cJSON_AddStringToObject(o.get(), "event", event.c_str());
  if (!id.empty()) cJSON_AddStringToObject(o.get(), "id", id.c_str());
  if (!detail.empty()) cJSON_AddStringToObject(o.get(), "detail", detail.c_str());
  return o.print();
}

}  // namespace tds

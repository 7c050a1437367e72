// Serial provisioning console, protocol "tds-console/1" (docs/firmware-esp32.md has the full text).
// Every request and response is one line "TDS <json>\n", so it can be picked out of boot-log noise;
// Improv Wi-Fi serial frames ("IMPROV"...) share the same port and are answered too.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "cJSON.h"
#include "tds_config.h"
#include "tds_crypto.h"
#include "tds_kv.h"
#include "tds_platform.h"

namespace tds {

constexpr const char* kConsoleProtocol = "tds-console/1";
constexpr size_t kConsoleMaxLine = 2048;  // longest accepted request line, bytes
constexpr size_t kConsoleMaxChunk = 512;  // longest `data` of one chunk, bytes

class Renewal;

class Console {
 public:
  struct Hooks {
    std::function<std::string()> stateName;  // e.g. "provisioning", "online"
    std::function<void()> committed;         // configuration was written: reload it
  };

  Console(Platform& platform, KvStore& cfg, KvStore& dev, Rng& rng, FirmwareInfo fw, Hooks hooks,
          Renewal* renewal = nullptr);

  // Bytes received on the serial port (any split).
  void feed(const uint8_t* data, size_t len);
  // Unsolicited event line: TDS {"event": name, ...fields of `extra` (an object, consumed)}.
  void event(const char* name, cJSON* extra = nullptr);
  // One request (the JSON after "TDS "), returns the response JSON. Public for unit tests.
  std::string handle(const std::string& requestJson);
  bool hasStaged() const { return !staged_.empty(); }

 private:
  void processBuffer();
  void onLine(const std::string& line);
  void onImprov(uint8_t type, const std::vector<uint8_t>& data);
  void sendImprov(const std::vector<uint8_t>& frame);
  void writeLine(const std::string& json);

  cJSON* cmdInfo();
  cJSON* cmdCsr(std::string& code, std::string& msg);
  cJSON* cmdSet(const cJSON* req, std::string& code, std::string& msg);
  cJSON* cmdCommit(const cJSON* req, std::string& code, std::string& msg, cJSON** problems);
  bool stageValue(const std::string& key, const std::string& value, std::string& code, std::string& msg);
  void resetTransfer();
  bool improvProvisioned();

  Platform& platform_;
  KvStore& cfg_;
  KvStore& dev_;
  Rng& rng_;
  FirmwareInfo fw_;
  Hooks hooks_;
  Renewal* renewal_;

  std::vector<uint8_t> buf_;
  bool inText_ = false;      // the bytes at the front of buf_ belong to a text line
  bool discarding_ = false;  // dropping an over-long line up to its newline
  std::map<std::string, std::string> staged_;
  // Chunked set in progress.
  std::string xferKey_, xferData_;
  uint32_t xferNextSeq_ = 0;
  std::string xferLastCrc_;
};

}  // namespace tds

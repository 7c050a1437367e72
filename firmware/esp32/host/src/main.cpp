// tds-device-host: the gateway firmware's core running on the host. The serial console talks over a
// pseudo-terminal (socat makes the pair), NVS is a JSON file per partition, MQTT goes through
// libmosquitto with the same app logic the ESP32 runs, zero-touch onboarding over the core's own
// HTTPS client (mbedTLS). "Reboots" restart the app in-process, so the pty stays open like a USB-UART
// bridge does.
//
//   tds-device-host --serial /dev/pts/N --nvs DIR --mac aa:bb:cc:dd:ee:ff
//                   [--fw-version 1.2.3] [--wifi-fail] [--no-clock] [--rs485 /dev/pts/M]
//                   [--bs-url URL] [--bs-ca FILE]   (zero-touch defaults "built into the image")
#include <fcntl.h>
#include <mosquitto.h>
#include <poll.h>
#include <termios.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "file_kv_store.h"
#include "tds_https.h"
#include "mosquitto_transport.h"
#include "tds_app.h"
#include "tds_util.h"

namespace {

volatile std::sig_atomic_t gStop = 0;
void onSignal(int) { gStop = 1; }

struct Options {
  std::string serial, nvsDir, mac, fwVersion = "0.0.0-host", rs485, bsUrl, bsCaFile;
  bool wifiFail = false, noClock = false;
};

bool openRaw(const std::string& path, int& fd) {
  fd = ::open(path.c_str(), O_RDWR | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) return false;
  termios t{};
  if (tcgetattr(fd, &t) == 0) {
    cfmakeraw(&t);
    tcsetattr(fd, TCSANOW, &t);
  }
  return true;
}

void writeAll(int fd, const uint8_t* d, size_t n) {
  while (n > 0) {
    const ssize_t w = ::write(fd, d, n);
    if (w > 0) {
      d += w;
      n -= static_cast<size_t>(w);
    } else if (w < 0 && errno == EAGAIN) {
      pollfd p{fd, POLLOUT, 0};
      ::poll(&p, 1, 100);
    } else {
      return;
    }
  }
}

class HostPlatform : public tds::Platform {
 public:
  HostPlatform(const Options& o, int fd) : o_(o), fd_(fd), start_(std::chrono::steady_clock::now()) {}
  std::string chipMac() override { return o_.mac; }
  tds::ChipInfo chipInfo() override {
    tds::ChipInfo c;
    c.model = "ESP32";
    c.revision = 3;
    c.cores = 2;
    c.flashSize = 4 * 1024 * 1024;
    return c;
  }
  uint64_t millis() override {
    return static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start_).count());
  }
  int64_t epoch() override { return o_.noClock ? 0 : static_cast<int64_t>(std::time(nullptr)); }
  void requestReboot(uint32_t delayMs) override { rebootAt_ = millis() + delayMs; }
  void consoleWrite(const uint8_t* d, size_t n) override { writeAll(fd_, d, n); }
  void log(const std::string& line) override {
    // ESP-IDF log style, so the station sees realistic noise between console lines.
    const std::string s = "I (" + std::to_string(millis()) + ") tds: " + line + "\r\n";
    writeAll(fd_, reinterpret_cast<const uint8_t*>(s.data()), s.size());
    std::fprintf(stderr, "%s", s.c_str());
  }
  void wifiBegin(const std::string& ssid, const std::string&) override { wifiUp_ = !o_.wifiFail && !ssid.empty(); }
  bool wifiConnected() override { return wifiUp_; }
  void wifiStop() override { wifiUp_ = false; }
  bool wifiTry(const std::string& ssid, const std::string& pass, uint32_t) override {
    wifiBegin(ssid, pass);
    return wifiUp_;
  }
  std::vector<tds::WifiNetwork> wifiScan() override { return {{"tds-bench", -48, true}, {"guest", -71, false}}; }
  void startTimeSync(const std::string&) override {}
  void setLed(tds::Led l) override {
    static const char* names[] = {"provisioning", "connecting", "online", "error"};
    log(std::string("led: ") + names[static_cast<int>(l)]);
  }
  void feedWatchdog() override {}
  bool rebootDue() { return rebootAt_ != 0 && millis() >= rebootAt_; }

 private:
  const Options& o_;
  int fd_;
  std::chrono::steady_clock::time_point start_;
  bool wifiUp_ = false;
  uint64_t rebootAt_ = 0;
};

class HostRtuPort : public tds::RtuPort {
 public:
  explicit HostRtuPort(int fd) : fd_(fd) {}
  std::vector<uint8_t> transact(const std::vector<uint8_t>& req, size_t expected, uint32_t timeoutMs) override {
    uint8_t junk[256];
    while (::read(fd_, junk, sizeof junk) > 0) {
    }
    writeAll(fd_, req.data(), req.size());
    std::vector<uint8_t> resp;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeoutMs);
    while (resp.size() < expected) {
      if (resp.size() >= 5 && (resp[1] & 0x80)) break;  // exception frame
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
      if (left <= 0) break;
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left)) <= 0) continue;
      const ssize_t n = ::read(fd_, junk, sizeof junk);
      if (n > 0) resp.insert(resp.end(), junk, junk + n);
    }
    return resp;
  }

 private:
  int fd_;
};

bool parseArgs(int argc, char** argv, Options& o) {
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&](std::string& dst) {
      if (i + 1 >= argc) return false;
      dst = argv[++i];
      return true;
    };
    if (a == "--serial") { if (!next(o.serial)) return false; }
    else if (a == "--nvs") { if (!next(o.nvsDir)) return false; }
    else if (a == "--mac") { if (!next(o.mac)) return false; }
    else if (a == "--fw-version") { if (!next(o.fwVersion)) return false; }
    else if (a == "--rs485") { if (!next(o.rs485)) return false; }
    else if (a == "--bs-url") { if (!next(o.bsUrl)) return false; }
    else if (a == "--bs-ca") { if (!next(o.bsCaFile)) return false; }
    else if (a == "--wifi-fail") o.wifiFail = true;
    else if (a == "--no-clock") o.noClock = true;
    else return false;
  }
  std::string canon;
  if (o.serial.empty() || o.nvsDir.empty() || !tds::parseMac(o.mac, canon)) return false;
  o.mac = canon;
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  if (!parseArgs(argc, argv, o)) {
    std::fprintf(stderr,
                 "usage: tds-device-host --serial PTY --nvs DIR --mac aa:bb:cc:dd:ee:ff [--fw-version V] [--wifi-fail] "
                 "[--no-clock] [--rs485 PTY] [--bs-url URL] [--bs-ca FILE]\n");
    return 2;
  }
  std::signal(SIGTERM, onSignal);
  std::signal(SIGINT, onSignal);
  std::signal(SIGPIPE, SIG_IGN);
  int fd = -1, busFd = -1;
  if (!openRaw(o.serial, fd)) {
    std::fprintf(stderr, "cannot open %s: %s\n", o.serial.c_str(), std::strerror(errno));
    return 1;
  }
  if (!o.rs485.empty() && !openRaw(o.rs485, busFd)) {
    std::fprintf(stderr, "cannot open %s: %s\n", o.rs485.c_str(), std::strerror(errno));
    return 1;
  }
  std::string bsCa;
  if (!o.bsCaFile.empty()) {
    std::ifstream f(o.bsCaFile);
    std::stringstream ss;
    ss << f.rdbuf();
    bsCa = ss.str();
    if (!f || bsCa.empty()) {
      std::fprintf(stderr, "cannot read %s\n", o.bsCaFile.c_str());
      return 1;
    }
  }
  mosquitto_lib_init();
  tds::Rng rng;
  tds::MbedHttpsClient https(rng, [&o] { return !o.noClock; });
  std::fprintf(stderr, "tds-device-host %s on %s, mac %s\n", o.fwVersion.c_str(), o.serial.c_str(), o.mac.c_str());
  while (!gStop) {
    // One "boot": ROM banner noise, fresh stores (re-read from disk), fresh app.
    static const char banner[] =
        "ets Jun  8 2016 00:22:57\r\n\r\nrst:0x1 (POWERON_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)\r\n"
        "configsip: 0, SPIWP:0xee\r\nmode:DIO, clock div:2\r\nload:0x3fff0030,len:1184\r\nentry 0x400805e4\r\n";
    writeAll(fd, reinterpret_cast<const uint8_t*>(banner), sizeof banner - 1);
    tds::FileKvStore cfg(o.nvsDir + "/tdscfg.json", tds::kCfgNamespace);
    tds::FileKvStore dev(o.nvsDir + "/nvs.json", tds::kDevNamespace);
    HostPlatform platform(o, fd);
    tds::MosquittoTransport mqtt(o.nvsDir + "/.tls");
    HostRtuPort bus(busFd);
    tds::FirmwareInfo fw;
    fw.version = o.fwVersion;
    fw.bootstrapUrl = o.bsUrl;
    fw.bootstrapCaPem = bsCa;
    tds::GatewayApp app(platform, cfg, dev, mqtt, busFd >= 0 ? &bus : nullptr, rng, fw, &https);
    app.begin();
    uint8_t buf[512];
    while (!gStop && !platform.rebootDue()) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 20) > 0) {
        const ssize_t n = ::read(fd, buf, sizeof buf);
        if (n > 0) app.onSerial(buf, static_cast<size_t>(n));
        else if (n < 0 && errno == EIO) ::usleep(50000);  // the other end of the pty is gone for now
      }
      app.loop();
    }
    mqtt.abandon();  // a reset drops the TCP connection: the broker sends the Last Will
  }
  mosquitto_lib_cleanup();
  ::close(fd);
  return 0;
}

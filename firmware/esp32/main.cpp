// The ESP32 glue: buses, flash, Wi-Fi, NTP and MQTT around the portable core (../core).
// Everything that decides what a reading is lives in the core and is tested on the host; this
// file only moves bytes. It is not compiled on this project's CI (see README.md).
// Platform: Arduino-ESP32 2.0.x on ESP-IDF 4.4 (platformio.ini pins it).
#include <Arduino.h>
#include <LittleFS.h>
#include <SPI.h>
#include <WiFi.h>
#include <Wire.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <string>
#include <vector>

#include "esp_sntp.h"
#include "esp_system.h"  // esp_random (ESP-IDF 4.4)
#include "esp_timer.h"
#include "freertos/queue.h"
#include "mqtt_client.h"

#include "config.h"
#include "frames.h"
#include "node.h"
#include "ring.h"

// Wiring (README.md, "Wiring"). UART2 goes to the CO2 module on a chimney, the BL0942 on a plug.
constexpr int kUartRx = 16, kUartTx = 17;
constexpr int kRs485Dir = 4;  // MAX3485 DE and /RE; not connected for a TTL-UART module
constexpr int kSpiSck = 18, kSpiMiso = 19, kSpiMosi = 23;  // MOSI: claimed by SPI, not connected
constexpr int kThermocoupleCs = 5;
constexpr int kI2cSda = 21, kI2cScl = 22;
constexpr int kSdpAddress = 0x25;  // int: Wire's requestFrom(int, int) overload, no ambiguity

namespace {

carbon::Config config;  // the core keeps references to it: it lives as long as the program
std::string ca_pem, mqtt_username;  // esp-mqtt keeps the CA pointer rather than a copy
carbon::Ring* ring = nullptr;
carbon::Clock* device_clock = nullptr;  // not `clock`: that is the C library's
carbon::Node* node = nullptr;
std::atomic<bool> ntp_answered{false};
QueueHandle_t link_events = nullptr;
struct LinkEvent { int32_t id; int msg_id; int error_type; int connect_code; };

std::uint64_t uptime_ms() { return static_cast<std::uint64_t>(esp_timer_get_time() / 1000); }  // 64-bit: no wrap

[[noreturn]] void halt(const std::string& why) {
    for (;;) {  // repeated, so that a technician who opens the monitor later still sees it
        Serial.println(why.c_str());
        delay(10000);
    }
}

bool read_file(const char* path, std::string& out) {
    File file = LittleFS.open(path, "r");
    if (!file) return false;
    out.assign(file.size(), '\0');
    const bool ok = file.read(reinterpret_cast<std::uint8_t*>(&out[0]), out.size()) == out.size();
    file.close();
    return ok;
}

// The ring's flash. LittleFS erases and wear-levels the NOR flash, and a file's fsync is atomic
// (copy-on-write), so a power cut leaves the old or the new bytes, never a half-erased sector.
// But a LittleFS file is a skip-list of blocks: rewriting bytes in its middle copies every block
// after them. One 1.2 MB /ring.bin would copy up to 1.2 MB per 72-byte write (and need that
// much free space), so the ring's bytes are split over small files: /ring/00000 holds the two
// metadata slots, each further file 56 records (4,032 bytes, one 4 KB block), and a write
// copies one block. The offsets the core sees are those of one flat region, as on the host.
class LittleFsStorage : public carbon::Storage {
public:
    explicit LittleFsStorage(std::size_t size) : size_(size) {}

    // Create missing files (or extend short ones) as erased flash, 0xFF. False when it runs out.
    bool create() {
        ::mkdir("/littlefs/ring", 0755);  // fails harmlessly when it exists
        const std::vector<std::uint8_t> erased(kChunk, 0xFF);
        for (std::size_t piece = 0; start(piece) < size_; ++piece) {
            const std::size_t want = std::min(start(piece + 1), size_) - start(piece);
            const int fd = ::open(path(piece).c_str(), O_RDWR | O_CREAT, 0644);
            if (fd < 0) return false;
            const off_t have = ::lseek(fd, 0, SEEK_END);
            bool ok = have >= 0;
            if (ok && static_cast<std::size_t>(have) < want) {
                const std::size_t missing = want - static_cast<std::size_t>(have);
                ok = ::write(fd, erased.data(), missing) == static_cast<ssize_t>(missing) && ::fsync(fd) == 0;
            }
            if (::close(fd) != 0 || !ok) return false;
        }
        return true;
    }

    std::size_t size() const override { return size_; }
    bool read(std::size_t offset, std::uint8_t* data, std::size_t length) override {
        return io(offset, data, length, false);
    }
    bool write(std::size_t offset, const std::uint8_t* data, std::size_t length) override {
        return io(offset, const_cast<std::uint8_t*>(data), length, true);
    }
    bool flush() override { return fd_ < 0 || ::fsync(fd_) == 0; }

private:
    static constexpr std::size_t kHead = 2 * carbon::Ring::kMetaSize;
    static constexpr std::size_t kChunk = (4096 / carbon::Ring::kRecordSize) * carbon::Ring::kRecordSize;
    static std::size_t start(std::size_t piece) { return piece == 0 ? 0 : kHead + (piece - 1) * kChunk; }
    static std::size_t piece_of(std::size_t offset) { return offset < kHead ? 0 : 1 + (offset - kHead) / kChunk; }
    static std::string path(std::size_t piece) {
        char name[32];
        std::snprintf(name, sizeof name, "/littlefs/ring/%05u", static_cast<unsigned>(piece));
        return name;
    }

    bool io(std::size_t offset, std::uint8_t* data, std::size_t length, bool writing) {
        if (offset + length > size_) return false;
        while (length > 0) {
            const std::size_t piece = piece_of(offset);
            const std::size_t n = std::min(length, start(piece + 1) - offset);
            if (!open_piece(piece) || ::lseek(fd_, static_cast<off_t>(offset - start(piece)), SEEK_SET) < 0) return false;
            const ssize_t done = writing ? ::write(fd_, data, n) : ::read(fd_, data, n);
            if (done != static_cast<ssize_t>(n)) return false;
            offset += n, data += n, length -= n;
        }
        return true;
    }

    // One file open at a time: the ring reads and writes mostly in order, so it rarely switches.
    bool open_piece(std::size_t piece) {
        if (fd_ >= 0 && piece_ == piece) return true;
        if (fd_ >= 0 && ::close(fd_) != 0) {  // the core flushed it already; close syncs again
            fd_ = -1;
            return false;
        }
        fd_ = ::open(path(piece).c_str(), O_RDWR);
        piece_ = piece;
        return fd_ >= 0;
    }

    std::size_t size_, piece_ = 0;
    int fd_ = -1;
};

// esp-mqtt (bundled with the IDF): QoS 1 with PUBACK events, which PubSubClient cannot do.
class EspMqtt : public carbon::Transport {
public:
    esp_mqtt_client_handle_t client = nullptr;
    bool publish(const std::string& topic, const std::string& payload, int& mid) override {
        // Blocks while the socket takes the bytes (up to esp-mqtt's 10 s network timeout).
        mid = esp_mqtt_client_publish(client, topic.c_str(), payload.data(), static_cast<int>(payload.size()), 1, 0);
        return mid >= 0;
    }
} mqtt;

// Runs on esp-mqtt's task. The core is not thread-safe: hand the event to the loop task.
void on_mqtt_event(void*, esp_event_base_t, int32_t id, void* data) {
    const auto* event = static_cast<esp_mqtt_event_handle_t>(data);
    LinkEvent e{id, event->msg_id, 0, 0};
    if (id == MQTT_EVENT_ERROR && event->error_handle != nullptr) {
        e.error_type = event->error_handle->error_type;
        e.connect_code = event->error_handle->connect_return_code;
    }
    if (id == MQTT_EVENT_CONNECTED || id == MQTT_EVENT_DISCONNECTED || id == MQTT_EVENT_PUBLISHED || id == MQTT_EVENT_ERROR)
        xQueueSend(link_events, &e, 0);  // full queue: a lost PUBACK is resent after ack_timeout_ms
}

// Runs on lwIP's task: only note it; the loop reads the clock and tells the core.
void on_ntp(struct timeval*) { ntp_answered = true; }

void start_mqtt() {
    carbon::BrokerAddress address;
    std::string error;
    carbon::parse_broker(config.broker, address, error);  // already validated by parse_config
    esp_mqtt_client_config_t settings = {};  // ESP-IDF 4.4 layout (IDF 5: .broker.address.uri, ...)
    settings.uri = config.broker.c_str();
    settings.client_id = config.device_id.c_str();
    if (!config.password.empty()) {  // as the host build: no password, no credentials
        mqtt_username = config.effective_username();
        settings.username = mqtt_username.c_str();
        settings.password = config.password.c_str();
    }
    if (address.tls) {
        if (config.ca_file.empty()) halt("config: an mqtts:// broker needs ca_file (a LittleFS path, e.g. /ca.crt)");
        if (!read_file(config.ca_file.c_str(), ca_pem)) halt("ca_file " + config.ca_file + ": not in LittleFS");
        settings.cert_pem = ca_pem.c_str();  // PEM, NUL-terminated, cert_len 0
    }
    // A backlog batch in one write: about 250 bytes a reading.
    settings.out_buffer_size = static_cast<int>(std::min<std::uint32_t>(32768, 1024 + 256 * config.batch_max));
    mqtt.client = esp_mqtt_client_init(&settings);
    if (mqtt.client == nullptr) halt("mqtt: the client cannot be created");
    esp_mqtt_client_register_event(mqtt.client, MQTT_EVENT_ANY, on_mqtt_event, nullptr);
    esp_mqtt_client_start(mqtt.client);  // it reconnects by itself (every 10 s) while the link is down
}

void sample_chimney() {
    // The thermocouple first: the Pitot velocity needs this sample's flue temperature.
    SPI.beginTransaction(SPISettings(1000000, MSBFIRST, SPI_MODE0));
    digitalWrite(kThermocoupleCs, LOW);
    std::uint32_t word = 0;
    for (int i = 0; i < 4; ++i) word = word << 8 | SPI.transfer(0);  // 4 bytes, most significant first
    digitalWrite(kThermocoupleCs, HIGH);
    SPI.endTransaction();
    node->on_thermocouple_word(word);

    std::uint8_t request[8], reply[9];  // two registers at most
    carbon::modbus_read_request(config.co2_modbus_address, config.co2_register, config.co2_registers, request);
    while (Serial2.available() > 0) Serial2.read();  // a late answer to the previous request
    digitalWrite(kRs485Dir, HIGH);
    Serial2.write(request, sizeof request);
    Serial2.flush();  // wait until the last bit is out before releasing the RS-485 bus
    digitalWrite(kRs485Dir, LOW);
    const std::size_t want = 3 + 2 * static_cast<std::size_t>(config.co2_registers) + 2;
    node->on_co2_frame(reply, Serial2.readBytes(reply, want));  // short or none: refused, counted

    std::uint8_t frame[9];
    const std::size_t got = Wire.requestFrom(kSdpAddress, 9);
    for (std::size_t i = 0; i < got; ++i) frame[i] = static_cast<std::uint8_t>(Wire.read());
    node->on_pressure_frame(frame, got);
}

void sample_plug() {
    static const std::uint8_t kFullPacket[2] = {0x58, 0xAA};  // BL0942: read the full packet
    std::uint8_t packet[carbon::kBl0942PacketSize];
    while (Serial2.available() > 0) Serial2.read();
    Serial2.write(kFullPacket, sizeof kFullPacket);
    node->on_power_frame(packet, Serial2.readBytes(packet, sizeof packet));
}

}  // namespace

void setup() {
    Serial.begin(115200);
    if (!LittleFS.begin(false)) halt("LittleFS: cannot mount; write it first with `pio run -t uploadfs`");
    std::string text;
    if (!read_file("/device.conf", text)) halt("/device.conf: missing (README.md, Configuration)");
    const carbon::ConfigResult parsed = carbon::parse_config(text);
    if (!parsed.ok()) halt("/device.conf: " + parsed.error);
    config = parsed.config;
    if (config.wifi_ssid.empty()) halt("/device.conf: wifi_ssid is required on the ESP32");

    auto* flash = new LittleFsStorage(carbon::Ring::bytes_for(config.ring_capacity));
    if (!flash->create()) halt("flash: cannot create the ring files (LittleFS too small for ring_capacity?)");
    ring = new carbon::Ring(*flash, config.ring_capacity);
    // A ring created on blank flash takes a random id, so that its event ids differ from those of
    // the ring an erase (uploadfs) destroyed (esp_random: hardware RNG, random once Wi-Fi is on
    // and still well spread before).
    if (!ring->open(esp_random())) halt(std::string("flash: ") + ring->error());
    device_clock = new carbon::Clock(ring->boot());
    node = new carbon::Node(config, *ring, *device_clock, mqtt);
    Serial.printf("event=boot device=%s boot=%u buffered=%lu next_event_id=%s\n", config.device_id.c_str(),
                  static_cast<unsigned>(ring->boot()), static_cast<unsigned long>(ring->depth()),
                  carbon::event_id(ring->id(), ring->next_seq()).c_str());

    if (config.kind == carbon::Kind::chimney) {
        Serial2.begin(9600, SERIAL_8N1, kUartRx, kUartTx);
        pinMode(kRs485Dir, OUTPUT);
        digitalWrite(kRs485Dir, LOW);
        pinMode(kThermocoupleCs, OUTPUT);
        digitalWrite(kThermocoupleCs, HIGH);
        SPI.begin(kSpiSck, kSpiMiso, kSpiMosi, kThermocoupleCs);
        Wire.begin(kI2cSda, kI2cScl);
        // SDP810: stop a measurement still running from before a reset (it ignores other
        // commands meanwhile), then start continuous differential pressure, averaged till read.
        const std::uint8_t stop[2] = {0x3F, 0xF9}, start[2] = {0x36, 0x15};
        Wire.beginTransmission(kSdpAddress);
        Wire.write(stop, 2);
        Wire.endTransmission();
        delay(2);
        Wire.beginTransmission(kSdpAddress);
        Wire.write(start, 2);
        if (Wire.endTransmission() != 0) Serial.println("sdp810: no answer at 0x25 (the status will count the errors)");
        delay(20);
    } else {
        Serial2.begin(4800, SERIAL_8N1, kUartRx, kUartTx);
    }
    Serial2.setTimeout(200);  // ms to wait for a reply; the longest, 23 bytes at 4800 baud, takes 48 ms

    link_events = xQueueCreate(32, sizeof(LinkEvent));
    WiFi.mode(WIFI_STA);
    WiFi.setAutoReconnect(true);
    WiFi.begin(config.wifi_ssid.c_str(), config.wifi_password.c_str());
    sntp_set_time_sync_notification_cb(on_ntp);  // also fires on every hourly re-sync
    configTime(0, 0, config.ntp_server.c_str());  // lwIP keeps the pointer: config lives on
    start_mqtt();
}

void loop() {
    static std::uint64_t next_sample_ms = 0, next_wifi_check_ms = 30000;
    const std::uint64_t now = uptime_ms();

    LinkEvent e;
    while (xQueueReceive(link_events, &e, 0) == pdTRUE) {
        if (e.id == MQTT_EVENT_CONNECTED) {
            node->on_connected(now);
            Serial.println("event=connected");
        } else if (e.id == MQTT_EVENT_DISCONNECTED) {  // may also follow a failed attempt: harmless
            node->on_disconnected(now);
            Serial.println("event=disconnected");
        } else if (e.id == MQTT_EVENT_PUBLISHED) {
            node->on_acknowledged(e.msg_id);
        } else {  // type 2, code 4 or 5: the broker refused the username or password
            Serial.printf("event=mqtt_error type=%d connect_return_code=%d\n", e.error_type, e.connect_code);
        }
    }
    if (ntp_answered.exchange(false)) {
        timeval tv{};
        gettimeofday(&tv, nullptr);
        device_clock->synchronize(static_cast<std::int64_t>(tv.tv_sec) * 1000 + tv.tv_usec / 1000, uptime_ms());
    }
    if (now >= next_sample_ms) {
        if (config.kind == carbon::Kind::chimney) sample_chimney();
        else sample_plug();
        next_sample_ms += config.sample_interval_ms;
        if (next_sample_ms <= now) next_sample_ms = now + config.sample_interval_ms;  // after a stall: no burst
    }
    if (now >= next_wifi_check_ms) {  // auto-reconnect can give up after some failures; nudge it
        if (WiFi.status() != WL_CONNECTED) WiFi.reconnect();
        next_wifi_check_ms = now + 30000;
    }
    node->set_rssi(WiFi.RSSI());
    if (!node->tick(uptime_ms())) {
        Serial.println("flash: a ring write failed; restarting");
        delay(100);
        ESP.restart();
    }
    delay(5);
}

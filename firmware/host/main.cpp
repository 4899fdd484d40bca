// carbon-device: the firmware's core on this machine, with libmosquitto as the MQTT client, a
// file as the flash and simulated sensors that put real frames on a pretend bus. Point it at a
// broker and it behaves as a chimney node or smart plug would: it buffers through outages,
// survives being killed (a power cut) and reports its status.
#include <mosquitto.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <thread>

#include "clock.h"
#include "config.h"
#include "file_storage.h"
#include "node.h"
#include "payload.h"
#include "ring.h"
#include "simulator.h"

namespace {

volatile std::sig_atomic_t stop_requested = 0;

const char* const kUsage = R"(Usage: carbon-device --config FILE [options]

Runs the chimney-node / smart-plug firmware core against a real MQTT broker, with simulated
sensors and a file as its flash. Readings go through the flash ring buffer (kept across runs:
use the same --flash file to "reboot" the same device) and are sent oldest first once the
broker acknowledges; stop the broker and they wait, kill this program and they survive.

Options:
  --config FILE         device configuration (key = value; see firmware/config/*.conf)
  --broker URL          override the config's broker (mqtt://host:port or mqtts://host:port)
  --flash FILE          the flash file (default: <device_id>.flash in the current folder)
  --journal FILE        append each reading taken as a CSV line (event_id,boot,uptime_ms,values...)
  --readings N          stop taking readings after N (then drain and exit)
  --duration SECONDS    stop taking readings after this long (then drain and exit)
  --drain-seconds S     how long to keep sending the backlog when stopping (default 10)
  --ntp-after SECONDS   pretend NTP answers only after this long (default 0: at once)
  --corrupt-every N     flip a bit in every Nth sensor frame (shows the checksum checks at work)
  --rssi DBM            the RSSI to report (the host has no radio; default -60)
  --seed N              random seed of the simulated process (default 1)
  --verbose             log every reading and message to stderr
  --help                this text

The password may also come from the environment (CARBON_DEVICE_PASSWORD), keeping it out of
the process list. On SIGTERM or SIGINT it stops taking readings, drains, and exits; it prints
a JSON summary line on stdout.
)";

struct Options {
    std::string config_path, broker, flash, journal;
    long readings = -1;
    double duration_s = -1, drain_s = 10, ntp_after_s = 0;
    unsigned corrupt_every = 0, seed = 1;
    int rssi = -60;
    bool verbose = false;
};

[[noreturn]] void fail(const std::string& message) {
    std::fprintf(stderr, "carbon-device: %s\n", message.c_str());
    std::exit(2);
}

double number_arg(const char* name, const char* value) {
    char* end = nullptr;
    const double x = std::strtod(value, &end);
    if (*value == '\0' || *end != '\0' || x < 0) fail(std::string(name) + ": expected a non-negative number, got '" + value + "'");
    return x;
}

Options parse_args(int argc, char** argv) {
    Options o;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        if (arg == "--help" || arg == "-h") {
            std::fputs(kUsage, stdout);
            std::exit(0);
        }
        if (arg == "--verbose") {
            o.verbose = true;
            continue;
        }
        if (i + 1 >= argc) fail(arg + ": expected a value (see --help)");
        const char* value = argv[++i];
        if (arg == "--config") o.config_path = value;
        else if (arg == "--broker") o.broker = value;
        else if (arg == "--flash") o.flash = value;
        else if (arg == "--journal") o.journal = value;
        else if (arg == "--readings") o.readings = static_cast<long>(number_arg("--readings", value));
        else if (arg == "--duration") o.duration_s = number_arg("--duration", value);
        else if (arg == "--drain-seconds") o.drain_s = number_arg("--drain-seconds", value);
        else if (arg == "--ntp-after") o.ntp_after_s = number_arg("--ntp-after", value);
        else if (arg == "--corrupt-every") o.corrupt_every = static_cast<unsigned>(number_arg("--corrupt-every", value));
        else if (arg == "--seed") o.seed = static_cast<unsigned>(number_arg("--seed", value));
        else if (arg == "--rssi") o.rssi = std::atoi(value);
        else fail("unknown option '" + arg + "' (see --help)");
    }
    if (o.config_path.empty()) fail("--config FILE is required (see --help)");
    return o;
}

carbon::Config load_config(const Options& options) {
    std::ifstream file(options.config_path);
    if (!file) fail(options.config_path + ": cannot be read");
    std::stringstream text;
    text << file.rdbuf();
    carbon::ConfigResult result = carbon::parse_config(text.str());
    if (!result.ok()) fail(options.config_path + ": " + result.error);
    carbon::Config config = result.config;
    if (!options.broker.empty()) {
        carbon::BrokerAddress address;
        std::string error;
        if (!carbon::parse_broker(options.broker, address, error)) fail("--" + error);
        config.broker = options.broker;
    }
    if (const char* password = std::getenv("CARBON_DEVICE_PASSWORD")) config.password = password;
    return config;
}

// libmosquitto behind the core's Transport, driven from this one thread.
class MosquittoLink : public carbon::Transport {
public:
    MosquittoLink(const carbon::Config& config, carbon::Node*& node, bool verbose)
        : config_(config), node_(node), verbose_(verbose) {
        std::string error;
        if (!carbon::parse_broker(config.broker, address_, error)) fail(error);
        mosquitto_lib_init();
        client_ = mosquitto_new(config.device_id.c_str(), true, this);
        if (!client_) fail("cannot create the MQTT client");
        if (!config.password.empty())
            mosquitto_username_pw_set(client_, config.effective_username().c_str(), config.password.c_str());
        if (address_.tls) {
            if (config.ca_file.empty()) fail("an mqtts:// broker needs ca_file in the config");
            const int rc = mosquitto_tls_set(client_, config.ca_file.c_str(), nullptr, nullptr, nullptr, nullptr);
            if (rc != MOSQ_ERR_SUCCESS) fail("ca_file " + config.ca_file + ": " + mosquitto_strerror(rc));
        }
        mosquitto_connect_callback_set(client_, [](mosquitto*, void* self, int rc) { static_cast<MosquittoLink*>(self)->connected(rc); });
        mosquitto_disconnect_callback_set(client_, [](mosquitto*, void* self, int) { static_cast<MosquittoLink*>(self)->dropped(); });
        mosquitto_publish_callback_set(client_, [](mosquitto*, void* self, int mid) { static_cast<MosquittoLink*>(self)->acked(mid); });
    }

    ~MosquittoLink() override {
        mosquitto_destroy(client_);
        mosquitto_lib_cleanup();
    }

    bool publish(const std::string& topic, const std::string& payload, int& mid) override {
        const int rc = mosquitto_publish(client_, &mid, topic.c_str(), static_cast<int>(payload.size()), payload.data(), 1, false);
        if (verbose_) std::fprintf(stderr, "event=publish topic=%s bytes=%zu mid=%d rc=%d\n", topic.c_str(), payload.size(), mid, rc);
        return rc == MOSQ_ERR_SUCCESS;
    }

    // Connect when down (with a back-off), then run the network loop for up to `timeout_ms`.
    void service(std::uint64_t uptime_ms, int timeout_ms) {
        if (!socket_open_) {
            if (uptime_ms < next_attempt_ms_) {
                std::this_thread::sleep_for(std::chrono::milliseconds(timeout_ms));
                return;
            }
            const int rc = attempted_ ? mosquitto_reconnect(client_)
                                      : mosquitto_connect(client_, address_.host.c_str(), address_.port, 10);
            attempted_ = true;
            if (rc != MOSQ_ERR_SUCCESS) {
                retry_later(uptime_ms);
                if (verbose_) std::fprintf(stderr, "event=connect_failed reason=\"%s\"\n", mosquitto_strerror(rc));
                return;
            }
            socket_open_ = true;
        }
        const int rc = mosquitto_loop(client_, timeout_ms, 1);
        if (rc != MOSQ_ERR_SUCCESS && socket_open_) dropped();
    }

    void disconnect() {
        mosquitto_disconnect(client_);
        mosquitto_loop(client_, 100, 1);
    }

    bool up() const { return up_; }

private:
    void connected(int rc) {
        if (rc != 0) {
            std::fprintf(stderr, "event=refused reason=\"%s\"\n", mosquitto_connack_string(rc));
            return;
        }
        up_ = true;
        backoff_ms_ = 0;
        std::fprintf(stderr, "event=connected broker=%s\n", config_.broker.c_str());
        node_->on_connected(uptime());
    }

    // Back off 0.2, 0.4, ... up to 5 s between attempts, so a refused device does not hammer the broker.
    void retry_later(std::uint64_t uptime_ms) {
        backoff_ms_ = backoff_ms_ ? std::min<std::uint64_t>(backoff_ms_ * 2, 5000) : 200;
        next_attempt_ms_ = uptime_ms + backoff_ms_;
    }

    void dropped() {
        socket_open_ = false;
        retry_later(uptime());
        if (!up_) return;
        up_ = false;
        std::fprintf(stderr, "event=disconnected\n");
        node_->on_disconnected(uptime());
    }

    void acked(int mid) { node_->on_acknowledged(mid); }

public:
    static std::uint64_t uptime() {
        static const auto boot = std::chrono::steady_clock::now();
        return static_cast<std::uint64_t>(
            std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - boot).count());
    }

private:
    const carbon::Config& config_;
    carbon::Node*& node_;
    bool verbose_;
    carbon::BrokerAddress address_;
    mosquitto* client_ = nullptr;
    bool socket_open_ = false, attempted_ = false, up_ = false;
    std::uint64_t next_attempt_ms_ = 0, backoff_ms_ = 0;
};

std::int64_t utc_now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

int main(int argc, char** argv) {
    const Options options = parse_args(argc, argv);
    const carbon::Config config = load_config(options);
    const std::uint64_t boot_ms = MosquittoLink::uptime();  // starts the uptime clock

    carbon::FileStorage flash(options.flash.empty() ? config.device_id + ".flash" : options.flash,
                              carbon::Ring::bytes_for(config.ring_capacity));
    if (!flash.ok()) fail("flash: " + flash.error());
    carbon::Ring ring(flash, config.ring_capacity);
    if (!ring.open(std::random_device{}())) fail(std::string("flash: ") + ring.error());
    carbon::Clock clock(ring.boot());
    carbon::Node* node_ptr = nullptr;
    MosquittoLink link(config, node_ptr, options.verbose);
    carbon::Node node(config, ring, clock, link);
    node_ptr = &node;
    carbon::Simulator sensors(config, options.seed + ring.boot(), options.corrupt_every);
    std::ofstream journal;
    if (!options.journal.empty()) journal.open(options.journal, std::ios::app);

    std::signal(SIGTERM, [](int) { stop_requested = 1; });
    std::signal(SIGINT, [](int) { stop_requested = 1; });
    std::fprintf(stderr, "event=boot device=%s boot=%u buffered=%llu next_event_id=%s\n", config.device_id.c_str(),
                 ring.boot(), static_cast<unsigned long long>(ring.depth()), carbon::event_id(ring.id(), ring.next_seq()).c_str());

    std::uint64_t next_sample_ms = boot_ms, last_sample_ms = boot_ms, next_sync_ms = 0, seq_logged = 0;
    bool measuring = true;
    std::uint64_t drain_until_ms = 0;
    const auto ms = [](double seconds) { return static_cast<std::uint64_t>(seconds * 1000); };
    while (true) {
        const std::uint64_t now = MosquittoLink::uptime();
        if (measuring && (stop_requested || (options.readings >= 0 && node.readings() >= static_cast<std::uint64_t>(options.readings)) ||
                          (options.duration_s >= 0 && now >= ms(options.duration_s)))) {
            measuring = false;
            node.stop_measuring();
            drain_until_ms = now + ms(options.drain_s);
            std::fprintf(stderr, "event=stopping buffered=%llu\n", static_cast<unsigned long long>(ring.depth()));
        }
        if (!measuring && (ring.depth() == 0 || now >= drain_until_ms)) break;
        if (now >= next_sync_ms && now >= ms(options.ntp_after_s)) {  // "NTP": this machine's clock
            clock.synchronize(utc_now_ms(), now);
            next_sync_ms = now + 3600 * 1000;
        }
        if (measuring && now >= next_sample_ms) {
            const std::time_t t = std::time(nullptr);
            std::tm utc{};
            gmtime_r(&t, &utc);
            sensors.step(utc.tm_hour + utc.tm_min / 60.0, static_cast<double>(now - last_sample_ms) / 1000.0);
            last_sample_ms = now;
            if (config.kind == carbon::Kind::chimney) {
                node.on_thermocouple_word(sensors.thermocouple_word());
                const auto co2 = sensors.co2_frame();
                node.on_co2_frame(co2.data(), co2.size());
                const auto dp = sensors.pressure_frame();
                node.on_pressure_frame(dp.data(), dp.size());
            } else {
                const auto power = sensors.power_frame();
                node.on_power_frame(power.data(), power.size());
            }
            next_sample_ms += config.sample_interval_ms;
        }
        node.set_rssi(options.rssi);
        if (!node.tick(now)) fail("flash: a write failed");
        if (node.last_reading().seq != seq_logged) {
            const carbon::Record& record = node.last_reading();
            seq_logged = record.seq;
            if (journal.is_open()) {
                journal << carbon::event_id(ring.id(), record.seq) << ',' << record.stamp.boot << ',' << record.stamp.uptime_ms;
                for (double value : record.values) journal << ',' << carbon::format_number(value);
                journal << '\n' << std::flush;
            }
            if (options.verbose)
                std::fprintf(stderr, "event=reading event_id=%s buffered=%llu\n", carbon::event_id(ring.id(), record.seq).c_str(),
                             static_cast<unsigned long long>(ring.depth()));
        }
        // Wait for the network at most until the next sample is due (and 20 ms).
        const std::uint64_t until_sample = measuring && next_sample_ms > now ? next_sample_ms - now : 20;
        link.service(now, static_cast<int>(std::min<std::uint64_t>(20, until_sample)));
    }
    if (link.up()) link.disconnect();
    const carbon::Status status = node.status(MosquittoLink::uptime());
    std::printf("{\"device_id\":\"%s\",\"boot\":%u,\"readings\":%llu,\"last_event_id\":\"%s\",\"buffered\":%llu,"
                "\"dropped\":%llu,\"sensor_errors\":%llu,\"reconnects\":%u,\"offline_s\":%s}\n",
                config.device_id.c_str(), ring.boot(), static_cast<unsigned long long>(node.readings()),
                carbon::event_id(ring.id(), node.last_reading().seq).c_str(), static_cast<unsigned long long>(status.buffer_depth),
                static_cast<unsigned long long>(status.dropped), static_cast<unsigned long long>(status.sensor_errors),
                status.reconnects, carbon::format_number(status.offline_s).c_str());
    return 0;
}

// The contract's identifier rule (carbon_lake/contracts.py IDENTIFIER): ids become MQTT topic
// levels and lake keys, so no '/', '+', '#', space or newline may reach either.
#pragma once

#include <string>

namespace carbon {

inline bool is_identifier(const std::string& s) {
    if (s.empty() || s.size() > 128) return false;
    for (std::size_t i = 0; i < s.size(); ++i) {
        const char ch = s[i];
        const bool alnum = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9');
        if (!alnum && (i == 0 || (ch != '.' && ch != '_' && ch != ':' && ch != '-'))) return false;
    }
    return true;
}

}  // namespace carbon

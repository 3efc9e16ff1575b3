// Host stand-in for Arduino-ESP32's Preferences.h: keys in memory, for the
// sketch test on the host (tests/test_targets_manifests.py).
#pragma once
#include <map>
#include <string>
#include <vector>
#include <stddef.h>
#include <string.h>

class Preferences {
  public:
    bool begin(const char *, bool) { return true; }
    size_t getBytes(const char *key, void *buf, size_t len)
    {
        auto it = keys_.find(key);
        if (it == keys_.end() || it->second.size() > len)
            return 0;
        memcpy(buf, it->second.data(), it->second.size());
        return it->second.size();
    }
    size_t putBytes(const char *key, const void *buf, size_t len)
    {
        const unsigned char *p = static_cast<const unsigned char *>(buf);
        keys_[key].assign(p, p + len);
        return len;
    }
    bool isKey(const char *key) { return keys_.count(key) != 0; }
    bool remove(const char *key) { return keys_.erase(key) == 1; }

  private:
    std::map<std::string, std::vector<unsigned char>> keys_;
};

/* json_fast.cpp - att_json_loadb: simdjson reads, jansson values come out (core/json.h).
 *
 * The one C++ file of the project: simdjson is a C++ library. Nothing here throws (simdjson's
 * error-code API only, jansson is C), and the C entry point is noexcept.
 */
#include <cstring>
#include <memory>

#include <simdjson.h>

#include "core/json.h"

namespace
{

using simdjson::dom::element;
using simdjson::dom::element_type;

/* Documents read by the per-thread parser. Its buffers keep the size of the largest document
 * it has read (about 14 bytes per byte of text: 220 kB at this limit), for the thread's life;
 * tokens and attest bodies are 3 - 10 kB. Larger documents get a parser of their own. */
constexpr size_t att_tls_max = 16 * 1024;

/* Builds the jansson tree from simdjson's parse; sets `fallback` (and returns NULL) where jansson
 * must decide instead. */
class att_reader
{
  public:
    explicit att_reader(bool reject_dups) : reject_dups_(reject_dups) {}
    json_t *value(element e);
    bool fallback = false;

  private:
    json_t *object(element e);
    json_t *array(element e);
    bool reject_dups_;
};

json_t *att_reader::object(element e)
{
    json_t *o = json_object();
    if (o == nullptr) {
        fallback = true;
        return nullptr;
    }
    for (auto field : simdjson::dom::object(e)) {
        std::string_view k = field.key;
        /* "\u0000" in a key: jansson refuses it without JSON_ALLOW_NUL */
        if (std::memchr(k.data(), '\0', k.size()) != nullptr) {
            fallback = true;
            break;
        }
        size_t before = json_object_size(o);
        json_t *v = value(field.value);
        if (v == nullptr)
            break;
        /* a duplicate replaces the earlier value in its place, as in jansson's reader */
        if (json_object_setn_new_nocheck(o, k.data(), k.size(), v) != 0) {
            fallback = true;
            break;
        }
        if (reject_dups_ && json_object_size(o) == before) {
            fallback = true;
            break;
        }
    }
    if (fallback) {
        json_decref(o);
        return nullptr;
    }
    return o;
}

json_t *att_reader::array(element e)
{
    json_t *a = json_array();
    if (a == nullptr) {
        fallback = true;
        return nullptr;
    }
    for (element item : simdjson::dom::array(e)) {
        json_t *v = value(item);
        if (v == nullptr || json_array_append_new(a, v) != 0) {
            fallback = true;
            break;
        }
    }
    if (fallback) {
        json_decref(a);
        return nullptr;
    }
    return a;
}

json_t *att_reader::value(element e)
{
    json_t *v = nullptr;
    switch (e.type()) {
    case element_type::OBJECT:
        return object(e);
    case element_type::ARRAY:
        return array(e);
    case element_type::STRING: {
        std::string_view s = e.get_string().value_unsafe();
        if (std::memchr(s.data(), '\0', s.size()) != nullptr)
            break;                                    /* "\u0000": jansson refuses it */
        v = json_stringn_nocheck(s.data(), s.size()); /* UTF-8 checked by simdjson */
        break;
    }
    case element_type::INT64:
        v = json_integer(e.get_int64().value_unsafe());
        break;
    case element_type::UINT64: /* above INT64_MAX: "too big integer" for jansson */
        break;
    case element_type::DOUBLE:
        v = json_real(e.get_double().value_unsafe());
        break;
    case element_type::BOOL:
        v = json_boolean(e.get_bool().value_unsafe());
        break;
    case element_type::NULL_VALUE:
        v = json_null();
        break;
    }
    if (v == nullptr)
        fallback = true;
    return v;
}

/* The per-thread parser and its padded copy of the input. */
struct att_tls_parser {
    simdjson::dom::parser parser{att_tls_max};
    std::unique_ptr<char[]> buf{new (std::nothrow) char[att_tls_max + simdjson::SIMDJSON_PADDING]};
};

json_t *att_json_build(simdjson::dom::parser &parser, const char *text, size_t len, size_t flags)
{
    element root;
    if (parser.parse(text, len, false).get(root) != simdjson::SUCCESS)
        return nullptr;
    if (!(flags & JSON_DECODE_ANY) && !root.is_object() && !root.is_array())
        return nullptr; /* jansson: "'[' or '{' expected" */
    att_reader r((flags & JSON_REJECT_DUPLICATES) != 0);
    return r.value(root);
}

json_t *att_json_fast(const char *p, size_t len, size_t flags)
{
    if ((flags & ~(size_t)(JSON_REJECT_DUPLICATES | JSON_DECODE_ANY)) != 0)
        return nullptr;
    if (len <= att_tls_max) {
        thread_local att_tls_parser tls;
        if (tls.buf == nullptr)
            return nullptr;
        std::memcpy(tls.buf.get(), p, len);
        std::memset(tls.buf.get() + len, 0, simdjson::SIMDJSON_PADDING);
        return att_json_build(tls.parser, tls.buf.get(), len, flags);
    }
    simdjson::padded_string copy(p, len); /* larger documents: memory freed on return */
    if (copy.data() == nullptr)
        return nullptr;
    simdjson::dom::parser parser(len);
    return att_json_build(parser, copy.data(), len, flags);
}

} // namespace

extern "C" json_t *att_json_loadb(const char *p, size_t len, size_t flags,
                                  json_error_t *err) noexcept
{
    json_t *v = p != nullptr ? att_json_fast(p, len, flags) : nullptr;
    if (v == nullptr)
        return json_loadb(p, len, flags, err); /* jansson decides, and says why */
    if (err != nullptr) {
        std::memset(err, 0, sizeof *err);
        err->line = err->column = -1;
    }
    return v;
}

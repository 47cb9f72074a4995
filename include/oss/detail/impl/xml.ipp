// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
#ifndef OSS_DETAIL_IMPL_XML_IPP
#define OSS_DETAIL_IMPL_XML_IPP

#include <oss/detail/xml.hpp>
#include <oss/error.hpp>

#include <algorithm>
#include <cassert>
#include <cstdint>

namespace oss::detail {

OSS_DECL void xml_escape(std::string& out, std::string_view text) {
  static constexpr char hex[] = "0123456789ABCDEF";
  for (const char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      case '\t':
      case '\n': out += c; break;
      default: {
        const auto u = static_cast<unsigned char>(c);
        if (u < 0x20) {
          // A literal CR would come back as LF (XML end-of-line handling), and the other
          // controls are not allowed literally; a reference keeps the exact byte. NUL has no
          // XML form at all: "&#x0;" makes readers fail loudly rather than lose data.
          out += "&#x";
          if (u >= 0x10) out += hex[u >> 4];
          out += hex[u & 0xF];
          out += ';';
        } else {
          out += c;
        }
      }
    }
  }
}

OSS_DECL xml_writer::xml_writer(bool declaration) {
  if (declaration) out_ = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
}

OSS_DECL void xml_writer::open(std::string_view name) {
  out_ += '<';
  out_ += name;
  out_ += '>';
  open_.emplace_back(name);
}

OSS_DECL void xml_writer::close() {
  assert(!open_.empty() && "xml_writer::close without a matching open");
  if (open_.empty()) return;
  out_ += "</";
  out_ += open_.back();
  out_ += '>';
  open_.pop_back();
}

OSS_DECL void xml_writer::element_text(std::string_view name, std::string_view text) {
  out_ += '<';
  out_ += name;
  out_ += '>';
  xml_escape(out_, text);
  out_ += "</";
  out_ += name;
  out_ += '>';
}

OSS_DECL void xml_writer::text(std::string_view text) { xml_escape(out_, text); }

OSS_DECL const xml_element* xml_element::child(std::string_view child_name) const noexcept {
  for (const xml_element& c : children)
    if (c.name == child_name) return &c;
  return nullptr;
}

OSS_DECL std::vector<const xml_element*> xml_element::children_named(
    std::string_view child_name) const {
  std::vector<const xml_element*> out;
  for (const xml_element& c : children)
    if (c.name == child_name) out.push_back(&c);
  return out;
}

OSS_DECL std::string_view xml_element::child_text(std::string_view child_name,
                                                  std::string_view fallback) const noexcept {
  const xml_element* c = child(child_name);
  return c ? std::string_view(c->text) : fallback;
}

namespace xml_impl {

inline bool is_space(char c) noexcept { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

inline bool is_name_start(char c) noexcept {
  const auto u = static_cast<unsigned char>(c);
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' || u >= 0x80;
}

inline bool is_name_char(char c) noexcept {
  return is_name_start(c) || (c >= '0' && c <= '9') || c == '-' || c == '.';
}

inline void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// Decodes the reference body between '&' and ';' ("amp", "#65", "#x41").
inline bool decode_reference(std::string_view ref, std::string& out) {
  if (ref == "amp") out += '&';
  else if (ref == "lt") out += '<';
  else if (ref == "gt") out += '>';
  else if (ref == "quot") out += '"';
  else if (ref == "apos") out += '\'';
  else if (ref.size() >= 2 && ref[0] == '#') {
    const bool hex = ref[1] == 'x';
    std::string_view digits = ref.substr(hex ? 2 : 1);
    if (digits.empty()) return false;
    std::uint32_t cp = 0;
    for (const char c : digits) {
      std::uint32_t d;
      if (c >= '0' && c <= '9') d = static_cast<std::uint32_t>(c - '0');
      else if (hex && c >= 'a' && c <= 'f') d = static_cast<std::uint32_t>(c - 'a' + 10);
      else if (hex && c >= 'A' && c <= 'F') d = static_cast<std::uint32_t>(c - 'A' + 10);
      else return false;
      cp = cp * (hex ? 16u : 10u) + d;
      if (cp > 0x10FFFF) return false;  // also stops overflow on long digit strings
    }
    // NUL, surrogates and the non-characters U+FFFE/U+FFFF are not characters in XML.
    if (cp == 0 || (cp >= 0xD800 && cp <= 0xDFFF) || cp == 0xFFFE || cp == 0xFFFF) return false;
    append_utf8(out, cp);
  } else {
    return false;  // no DTD, so no other entity can exist
  }
  return true;
}

// Decodes character data: references resolved, CR LF and lone CR turned into LF (XML 1.0
// section 2.11). `significant` is set by anything but literal whitespace.
inline bool decode_text(std::string_view raw, std::string& out, bool& significant) {
  for (std::size_t i = 0; i < raw.size(); ++i) {
    const char c = raw[i];
    if (c == '&') {
      const std::size_t semi = raw.find(';', i + 1);
      // The longest valid reference is a few characters; a far-away ';' means a stray '&'.
      if (semi == std::string_view::npos || semi - i > 40) return false;
      if (!decode_reference(raw.substr(i + 1, semi - i - 1), out)) return false;
      significant = true;
      i = semi;
    } else if (c == '\r') {
      out += '\n';
      if (i + 1 < raw.size() && raw[i + 1] == '\n') ++i;
    } else if (c == '\0') {
      return false;
    } else {
      if (!is_space(c)) significant = true;
      out += c;
    }
  }
  return true;
}

// CDATA is taken literally, apart from the end-of-line handling that applies to the whole
// document.
inline bool append_cdata(std::string_view raw, std::string& out) {
  for (std::size_t i = 0; i < raw.size(); ++i) {
    const char c = raw[i];
    if (c == '\0') return false;
    if (c == '\r') {
      out += '\n';
      if (i + 1 < raw.size() && raw[i + 1] == '\n') ++i;
    } else {
      out += c;
    }
  }
  return true;
}

class parser {
 public:
  explicit parser(std::string_view in) : in_(in) {}

  std::optional<xml_element> run() {
    if (in_.size() > xml_max_input) return std::nullopt;
    if (in_.substr(0, 3) == "\xEF\xBB\xBF") pos_ = 3;
    if (!misc(true)) return std::nullopt;
    if (pos_ >= in_.size() || in_[pos_] != '<') return std::nullopt;
    std::optional<xml_element> root = element_tree();
    if (!root || !misc(false) || pos_ != in_.size()) return std::nullopt;
    return root;
  }

 private:
  struct frame {
    xml_element element;
    std::string_view qualified_name;
    bool significant_text = false;
  };

  bool starts_with(std::string_view s) const noexcept { return in_.substr(pos_, s.size()) == s; }

  bool skip_space() noexcept {
    const std::size_t start = pos_;
    while (pos_ < in_.size() && is_space(in_[pos_])) ++pos_;
    return pos_ != start;
  }

  std::string_view name() noexcept {
    const std::size_t start = pos_;
    if (pos_ >= in_.size() || !is_name_start(in_[pos_])) return {};
    while (pos_ < in_.size() && is_name_char(in_[pos_])) ++pos_;
    return in_.substr(start, pos_ - start);
  }

  bool skip_past(std::string_view terminator) noexcept {
    const std::size_t end = in_.find(terminator, pos_);
    if (end == std::string_view::npos) return false;
    pos_ = end + terminator.size();
    return true;
  }

  // At "<!--".
  bool comment() noexcept {
    pos_ += 4;
    return skip_past("-->");
  }

  // At "<?". The XML declaration is a PI whose target is "xml"; it is only allowed before the
  // root, and only once (where exactly is not worth rejecting).
  bool processing_instruction(bool in_prolog) noexcept {
    pos_ += 2;
    const std::string_view target = name();
    if (target.empty()) return false;
    if (target.size() == 3 && (target[0] | 0x20) == 'x' && (target[1] | 0x20) == 'm' &&
        (target[2] | 0x20) == 'l') {
      if (!in_prolog || seen_declaration_) return false;
      seen_declaration_ = true;
    }
    if (!starts_with("?>") && !skip_space()) return false;
    return skip_past("?>");
  }

  // Whitespace, comments and PIs around the root. "<!" other than a comment (DOCTYPE, or
  // anything else) is refused: without a DTD there is no entity expansion to abuse.
  bool misc(bool in_prolog) noexcept {
    for (;;) {
      skip_space();
      if (starts_with("<?")) {
        if (!processing_instruction(in_prolog)) return false;
      } else if (starts_with("<!--")) {
        if (!comment()) return false;
      } else if (starts_with("<!")) {
        return false;
      } else {
        return true;
      }
    }
  }

  // At '<' of a start tag. Pushes a frame, or attaches the element at once when it is empty.
  bool start_tag(std::vector<frame>& stack, std::optional<xml_element>& root) {
    ++pos_;
    const std::string_view qname = name();
    if (qname.empty()) return false;
    const std::size_t colon = qname.rfind(':');
    const std::string_view local = colon == std::string_view::npos ? qname : qname.substr(colon + 1);
    if (local.empty() || !is_name_start(local[0]) || local[0] == ':') return false;
    if (++elements_ > xml_max_elements || stack.size() + 1 > xml_max_depth) return false;

    bool empty_element = false;
    for (;;) {
      const bool had_space = skip_space();
      if (pos_ >= in_.size()) return false;
      if (in_[pos_] == '>') {
        ++pos_;
        break;
      }
      if (starts_with("/>")) {
        pos_ += 2;
        empty_element = true;
        break;
      }
      if (!had_space || !attribute()) return false;
    }

    frame f{xml_element{std::string(local), {}, {}}, qname, false};
    if (empty_element) return finish(std::move(f.element), stack, root);
    stack.push_back(std::move(f));
    return true;
  }

  // name = "value" | 'value'; checked for well-formedness, then dropped.
  bool attribute() {
    if (name().empty()) return false;
    skip_space();
    if (pos_ >= in_.size() || in_[pos_] != '=') return false;
    ++pos_;
    skip_space();
    if (pos_ >= in_.size() || (in_[pos_] != '"' && in_[pos_] != '\'')) return false;
    const char quote = in_[pos_++];
    const std::size_t end = in_.find(quote, pos_);
    if (end == std::string_view::npos) return false;
    const std::string_view value = in_.substr(pos_, end - pos_);
    if (value.find('<') != std::string_view::npos) return false;
    std::string scratch;
    bool unused = false;
    if (!decode_text(value, scratch, unused)) return false;
    pos_ = end + 1;
    return true;
  }

  // At "</".
  bool end_tag(std::vector<frame>& stack, std::optional<xml_element>& root) {
    pos_ += 2;
    const std::string_view qname = name();
    skip_space();
    if (pos_ >= in_.size() || in_[pos_] != '>') return false;
    ++pos_;
    if (stack.empty() || qname != stack.back().qualified_name) return false;
    frame f = std::move(stack.back());
    stack.pop_back();
    // Indentation between children is layout, not data; a leaf keeps its text exactly.
    if (!f.element.children.empty() && !f.significant_text) f.element.text.clear();
    return finish(std::move(f.element), stack, root);
  }

  static bool finish(xml_element&& e, std::vector<frame>& stack, std::optional<xml_element>& root) {
    if (stack.empty()) root = std::move(e);
    else stack.back().element.children.push_back(std::move(e));
    return true;
  }

  std::optional<xml_element> element_tree() {
    std::vector<frame> stack;
    std::optional<xml_element> root;
    if (!start_tag(stack, root)) return std::nullopt;
    while (!stack.empty()) {
      if (pos_ >= in_.size()) return std::nullopt;  // unterminated element
      frame& top = stack.back();
      if (in_[pos_] != '<') {
        const std::size_t end = std::min(in_.find('<', pos_), in_.size());
        if (!decode_text(in_.substr(pos_, end - pos_), top.element.text, top.significant_text))
          return std::nullopt;
        pos_ = end;
      } else if (starts_with("</")) {
        if (!end_tag(stack, root)) return std::nullopt;
      } else if (starts_with("<!--")) {
        if (!comment()) return std::nullopt;
      } else if (starts_with("<![CDATA[")) {
        pos_ += 9;
        const std::size_t end = in_.find("]]>", pos_);
        if (end == std::string_view::npos) return std::nullopt;
        if (!append_cdata(in_.substr(pos_, end - pos_), top.element.text)) return std::nullopt;
        top.significant_text = true;
        pos_ = end + 3;
      } else if (starts_with("<?")) {
        if (!processing_instruction(false)) return std::nullopt;
      } else if (starts_with("<!")) {
        return std::nullopt;
      } else {
        if (!start_tag(stack, root)) return std::nullopt;
      }
    }
    return root;
  }

  std::string_view in_;
  std::size_t pos_ = 0;
  std::size_t elements_ = 0;
  bool seen_declaration_ = false;
};

}  // namespace xml_impl

OSS_DECL std::optional<xml_element> parse_xml(std::string_view input, std::error_code& ec) {
  std::optional<xml_element> root = xml_impl::parser(input).run();
  if (!root) ec = make_error_code(client_errc::malformed_xml);
  else ec.clear();
  return root;
}

}  // namespace oss::detail

#endif  // OSS_DETAIL_IMPL_XML_IPP

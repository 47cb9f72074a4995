// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
#ifndef OSS_DETAIL_XML_HPP
#define OSS_DETAIL_XML_HPP

#include <oss/detail/config.hpp>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace oss::detail {

// OSS documents are small and flat (oss-protocol.md section 3), so a hand-written writer and
// reader cover them; no DTDs, no namespaces that matter, no attributes we read.

/// Appends an XML document to a string. Element names are written as given (they are our own
/// constants); text is escaped.
class xml_writer {
 public:
  /// Starts the document with `<?xml version="1.0" encoding="UTF-8"?>` unless told not to.
  OSS_DECL explicit xml_writer(bool declaration = true);

  /// `<name>`; must be matched by `close()`.
  OSS_DECL void open(std::string_view name);
  /// Closes the innermost element still open.
  OSS_DECL void close();
  /// `<name>text</name>` with `text` escaped.
  OSS_DECL void element_text(std::string_view name, std::string_view text);
  /// Escaped character data inside the current element.
  OSS_DECL void text(std::string_view text);

  /// Elements opened and not yet closed.
  std::size_t depth() const noexcept { return open_.size(); }
  const std::string& str() const noexcept { return out_; }
  /// The document; the writer is left empty.
  std::string release() {
    std::string out = std::move(out_);
    out_.clear();
    open_.clear();
    return out;
  }

 private:
  std::string out_;
  std::vector<std::string> open_;
};

/// Appends `text` to `out` escaped for element content or attribute values: & < > " ' become
/// entities, CR and the other control characters XML 1.0 cannot carry literally become
/// character references (which `parse_xml` reads back).
OSS_DECL void xml_escape(std::string& out, std::string_view text);

/// One element: its local name (namespace prefix removed), its character data and children.
struct xml_element {
  std::string name;
  /// The character data exactly as written (entities and CDATA decoded). In an element that
  /// has children, whitespace-only text between them is dropped.
  std::string text;
  std::vector<xml_element> children;

  /// The first child named `name`, or nullptr.
  OSS_DECL const xml_element* child(std::string_view name) const noexcept;
  /// Every child named `name`, in document order.
  OSS_DECL std::vector<const xml_element*> children_named(std::string_view name) const;
  /// The text of the first child named `name`, or `fallback` when there is none.
  OSS_DECL std::string_view child_text(std::string_view name,
                                       std::string_view fallback = {}) const noexcept;
};

/// Limits of `parse_xml`; input beyond them is `client_errc::malformed_xml`.
inline constexpr std::size_t xml_max_depth = 32;
inline constexpr std::size_t xml_max_input = 16u << 20;
inline constexpr std::size_t xml_max_elements = 200000;

/// Parses one document. Accepts a BOM, the XML declaration, comments, processing instructions,
/// CDATA, the five predefined entities and character references; ignores attributes (xmlns
/// included) and strips namespace prefixes. Rejects DOCTYPE (no entity expansion, ever),
/// mismatched or unterminated constructs, unknown entities, junk after the root and input past
/// the limits, setting `ec` to `client_errc::malformed_xml` and returning nullopt.
OSS_DECL std::optional<xml_element> parse_xml(std::string_view input, std::error_code& ec);

}  // namespace oss::detail

#ifdef OSS_HEADER_ONLY
#include <oss/detail/impl/xml.ipp>
#endif

#endif  // OSS_DETAIL_XML_HPP

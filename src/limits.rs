//! Every limit flowc puts on what it reads, in one place, each with its reason.
//!
//! flowc reads files that people write (templates) and files that other programs export (data
//! files), and either may be broken or hostile: a template from a pull request, a contact list
//! from an unknown source. Each limit is far above what a real template or contact list needs
//! and far below what would exhaust the memory or the stack of the machine running a
//! campaign, so that such a file ends in a clear message, never a hang, an abort or a machine
//! out of memory.

/// A template (or its fixtures or snapshots) is read whole: real ones are a few KiB.
pub(crate) const MAX_TEMPLATE_BYTES: u64 = 10 << 20;

/// How many values (scalars, lists, mappings) a template or a fixtures file may hold. Each
/// takes about 100 bytes loaded, 25 times its text for a list of one-letter items: a 5 MB
/// list in a template took 800 MB to check. Real templates hold about a hundred.
pub(crate) const MAX_DOCUMENT_VALUES: usize = 100_000;

/// How deeply YAML collections may nest, in a template or a data file. The loader (and every
/// walk over its tree) recurses once a level: 7,000 levels overflow the stack and abort the
/// whole run. Real templates nest about 8 levels; JSON data has serde_json's same limit.
pub(crate) const MAX_YAML_NESTING: usize = 128;

/// How deeply handlebars blocks (`{{#if}}` inside `{{#each}}`) and subexpressions
/// (`(upper (trim name))`) may nest in one value. Handlebars parses and renders them by
/// recursion, and overflows the stack (an abort) at a few thousand levels; real templates use
/// two or three.
pub(crate) const MAX_HANDLEBARS_NESTING: usize = 32;

/// YAML aliases (`*name`) may expand what was read to at most this many times its size...
pub(crate) const ALIAS_EXPANSION_FACTOR: usize = 10;
/// ...or to this many bytes, if that is more. Sizes are those of the loaded tree, about 80
/// bytes a value more than the text. An alias repeats a value; nested aliases multiply it
/// ("billion laughs": a 140 KB file expanded to 2 GB, a 1 MB template to 3 GB).
pub(crate) const ALIAS_EXPANSION_FLOOR: usize = 4 << 20;

/// How much of a YAML data file its anchors (`&name`) may keep for later aliases. Rows are
/// read one at a time and dropped, but an anchored value must be kept for the rest of the
/// file: an anchor on every row would keep the whole file in memory (13 MB of rows, 288 MB).
pub(crate) const MAX_ANCHORED_BYTES: usize = 16 << 20;

/// The largest value a data file may give one variable (its JSON size, for a list or a
/// mapping). No WhatsApp field holds more than a few KiB (a body is 1,024 characters), and a
/// value is copied several times on its way into a body: a 1 GB CSV field took 4.2 GB.
pub(crate) const MAX_FIELD_BYTES: usize = 64 << 10;

/// The largest row of a data file, as text, with the columns and keys no variable uses. A
/// JSON, JSON Lines or YAML row is read whole before its values can be looked at; a CSV row
/// is read field by field and only the fields of variables are kept.
pub(crate) const MAX_ROW_BYTES: usize = 1 << 20;

/// The largest value one string of a template may render to. Data values are at most
/// [`MAX_FIELD_BYTES`], but a template may repeat one (`{{name}}` ten thousand times) or loop
/// over a list (`{{#each}}`), and what it renders is copied again into the body.
pub(crate) const MAX_RENDERED_BYTES: usize = 256 << 10;

/// The largest Flow JSON file a template may name (`flow_json`). Meta refuses Flow JSON over
/// 10 MB (Flow JSON reference, "Limitations"), so a larger file cannot be a Flow it accepts;
/// real ones are a few KiB.
pub(crate) const MAX_FLOW_BYTES: u64 = 10 << 20;

/// How deeply a Flow JSON file may nest. The reader recurses once a level; real Flows nest
/// about 12 levels (screens, layout, a Form, its children, an action, its payload).
pub(crate) const MAX_FLOW_NESTING: usize = 128;

/// How many problems of one Flow file are reported; the others are counted. Each finding
/// quotes the Flow's text, and a hostile Flow can break a rule in every value it holds.
pub(crate) const MAX_FLOW_ISSUES: usize = 100;

/// How long a device or a named pipe that an output goes to may take nothing before the write
/// ends in an error: a reader that opened the pipe and never reads would otherwise hold flowc
/// forever (a full pipe buffer is 64 KiB, about 800 report rows). A reader that reads, however
/// slowly, resets it.
pub(crate) const MAX_OUTPUT_STALL: std::time::Duration = std::time::Duration::from_secs(30);

/// The most pages of the provider's template list `flowc templates pull` reads. Meta pages the
/// list 25 templates a page by default and an account holds at most a few thousand templates;
/// a provider whose paging never ends would otherwise be asked forever.
pub(crate) const MAX_TEMPLATE_PAGES: usize = 1_000;

/// The largest page of the template list read: a template is a few KiB, a page of 100 of them
/// well under 1 MiB.
pub(crate) const MAX_TEMPLATE_PAGE_BYTES: usize = 4 << 20;

/// The most the template list's pages may add up to: the list is held whole before anything is
/// written, so that a list that cannot be read to its end writes nothing.
pub(crate) const MAX_TEMPLATE_LIST_BYTES: usize = 64 << 20;

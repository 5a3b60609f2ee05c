//! The overlay's colours. Every drawn colour has unequal channels, so on a grey localizer each drawn
//! pixel is told from the image by its colour alone (the tests rely on it), and each is a hue a
//! person tells from the others at a glance.

use super::Rgb;

/// The mask's contour.
pub const CONTOUR: Rgb = [255, 220, 0];
/// The minimum-area oriented box.
pub const BOX: Rgb = [0, 200, 255];
/// The least-squares line.
pub const LINE: Rgb = [255, 40, 40];
/// The final scan plane (dashed) and the angle headline.
pub const PLANE: Rgb = [80, 255, 80];
/// The centre cross and the centre's text.
pub const CENTRE: Rgb = [255, 80, 255];
/// Other text.
pub const TEXT: Rgb = [255, 255, 230];
/// The dark box behind the text.
pub const TEXT_BG: Rgb = [10, 14, 40];
/// The dark outline around the centre cross.
pub const OUTLINE: Rgb = [0, 0, 30];

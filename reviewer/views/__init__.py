"""Function views, one module per area of the product (see README, Architecture)."""

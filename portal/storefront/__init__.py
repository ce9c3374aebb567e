"""Consumer selling: storefronts, consumer sign-in, checkout, payments, routing and pickup."""

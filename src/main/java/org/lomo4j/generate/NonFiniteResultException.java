package org.lomo4j.generate;

/** An evaluation or generation whose numbers are NaN or infinite: printed, they would pass for a result. */
public final class NonFiniteResultException extends ArithmeticException {
    public NonFiniteResultException(String message) {
        super(message);
    }
}

//! `Serializer` methods that refuse what they are given, for the serializers that take
//! only some shapes of value (map keys, CSV fields, text lines): each answers
//! `Err(self.$refusal("what it was"))`.

/// Writes `Serializer` methods that each refuse their value, named by `$found`.
macro_rules! refuse {
    ($refusal:ident: $($method:ident($($arg:ty),*) -> $ret:ty: $found:expr;)*) => {$(
        fn $method(self, $(_: $arg),*) -> Result<$ret, Self::Error> {
            Err(self.$refusal($found))
        }
    )*};
}

/// Writes the `Serializer` methods of every compound value, each refused.
macro_rules! refuse_compound {
    ($refusal:ident) => {
        $crate::encode::refuse::refuse! { $refusal:
            serialize_seq(Option<usize>) -> Self::SerializeSeq: "a sequence";
            serialize_tuple(usize) -> Self::SerializeTuple: "a tuple";
            serialize_tuple_struct(&'static str, usize) -> Self::SerializeTupleStruct: "a tuple struct";
            serialize_map(Option<usize>) -> Self::SerializeMap: "a map";
            serialize_struct(&'static str, usize) -> Self::SerializeStruct: "a struct";
        }
        $crate::encode::refuse::refuse_variants!($refusal);
    };
}

/// Writes the `Serializer` methods of the enum variants that carry data, each refused.
macro_rules! refuse_variants {
    ($refusal:ident) => {
        fn serialize_newtype_variant<T: ::serde::Serialize + ?Sized>(
            self,
            _: &'static str,
            _: u32,
            _: &'static str,
            _: &T,
        ) -> Result<Self::Ok, Self::Error> {
            Err(self.$refusal("an enum variant with data"))
        }
        $crate::encode::refuse::refuse! { $refusal:
            serialize_tuple_variant(&'static str, u32, &'static str, usize) -> Self::SerializeTupleVariant: "an enum variant with data";
            serialize_struct_variant(&'static str, u32, &'static str, usize) -> Self::SerializeStructVariant: "an enum variant with data";
        }
    };
}

/// The types of a `Serializer` that takes no compound value (all `Impossible`).
macro_rules! no_compounds {
    ($ok:ty, $error:ty) => {
        type Ok = $ok;
        type Error = $error;
        type SerializeSeq = ::serde::ser::Impossible<$ok, $error>;
        type SerializeTuple = ::serde::ser::Impossible<$ok, $error>;
        type SerializeTupleStruct = ::serde::ser::Impossible<$ok, $error>;
        type SerializeTupleVariant = ::serde::ser::Impossible<$ok, $error>;
        type SerializeMap = ::serde::ser::Impossible<$ok, $error>;
        type SerializeStruct = ::serde::ser::Impossible<$ok, $error>;
        type SerializeStructVariant = ::serde::ser::Impossible<$ok, $error>;
    };
}

/// Writes `serialize_some` and `serialize_newtype_struct` as the value they wrap, and
/// `serialize_unit_variant` as the variant's name.
macro_rules! transparent {
    () => {
        fn serialize_some<T: ::serde::Serialize + ?Sized>(
            self,
            value: &T,
        ) -> Result<Self::Ok, Self::Error> {
            value.serialize(self)
        }
        fn serialize_newtype_struct<T: ::serde::Serialize + ?Sized>(
            self,
            _: &'static str,
            value: &T,
        ) -> Result<Self::Ok, Self::Error> {
            value.serialize(self)
        }
        fn serialize_unit_variant(
            self,
            _: &'static str,
            _: u32,
            variant: &'static str,
        ) -> Result<Self::Ok, Self::Error> {
            self.serialize_str(variant)
        }
    };
}

pub(crate) use {no_compounds, refuse, refuse_compound, refuse_variants, transparent};
